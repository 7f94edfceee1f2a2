"""Register-tiled GEMM micro-kernels for the layer-stack kernels (``_jit_network.py``).

The three products of training map onto two loop shapes, both written so that LLVM keeps the
accumulators in vector registers and vectorizes along the contiguous axis:

* ``dot_rows`` (forward, ``Z = A @ W.T + b``): every output is a dot product along the rows of
  ``A`` and ``W``, which are both contiguous. A tile of 8 rows x 3 units keeps 24 vector
  accumulators (plus 3 weight vectors) in registers, so each loaded vector feeds 3 or 8 FMAs.
* ``rank_slab`` (backward, ``dA_prev = dZ @ W`` and ``dW = dZ.T @ A_prev``): rank-4 updates of an
  8-row slab ``S`` (a per-thread scratch buffer that stays in L1) by 4 rows of ``B`` at a time,
  vectorized along the columns; 32 scalar coefficients are broadcast from a flat array with
  arbitrary strides, which covers ``dZ`` read row-wise (dA) and column-wise (dW) alike.

These kernels beat ``np.dot`` inside njit (OpenBLAS) on every product of an epoch but dA of a
10-unit output layer, not worth a second code path; the measurements and the tiles tried are in
docs/kernels.md. The forward tile depends on the CPU's vector registers (kernels/_cpu.py):
``dot_rows`` is :func:`dot_rows_8x3` with AVX-512's 32, :func:`dot_rows_4x3` with AVX2's 16.
Partial tiles at the edges are computed on clamped (repeated) rows and units, and only the valid
part is stored (through the ``tile`` scratch), so one code path serves every shape, batch sizes
1 and 7 included; whole tiles go straight into ``Z`` (through the scratch, the 8 x 3 product
took 1.1-1.26x as long; see docs/kernels.md).
"""

from __future__ import annotations

import numpy as np

from ._cpu import WIDE_TILE
from ._numba import njit as _njit

# np.int64, not int: a Python int argument would be typed Literal[int] (one compile per value).
TILE_ROWS = np.int64(8)
TILE_UNITS = np.int64(3)
HALF_TILE_ROWS = np.int64(4)  # the AVX2 variant's tile rows (dot_rows_4x3)
SLAB = np.int64(8)
RANK = np.int64(4)


@_njit()
def _store3(z, j, v0, v1, v2):
    """z[j], z[j + 1], z[j + 2] = v0, v1, v2."""
    z[j], z[j + 1], z[j + 2] = v0, v1, v2


@_njit()
def dot_rows_8x3(A, W, b, Z, r0, r1, j0, j1, tile):
    """Z[r, j] = A[r] . W[j] + b[j] for r0 <= r < r1 and j0 <= j < j1, in 8 x 3 tiles.

    A: (rows, K), W: (units, K), b: (units,), Z: (rows, units), one float dtype, C-contiguous;
    tile: (8, 3) scratch. For CPUs with 32 vector registers (AVX-512).
    """
    T = Z.dtype.type
    K = A.shape[1]
    last_r, last_j = r1 - 1, j1 - 1
    for i in range(r0, r1, TILE_ROWS):
        a0, a1 = A[i], A[min(i + 1, last_r)]
        a2, a3 = A[min(i + 2, last_r)], A[min(i + 3, last_r)]
        a4, a5 = A[min(i + 4, last_r)], A[min(i + 5, last_r)]
        a6, a7 = A[min(i + 6, last_r)], A[min(i + 7, last_r)]
        n_rows = min(TILE_ROWS, r1 - i)
        for j in range(j0, j1, TILE_UNITS):
            w0, w1, w2 = W[j], W[min(j + 1, last_j)], W[min(j + 2, last_j)]
            s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = s30 = s31 = s32 = T(0)
            s40 = s41 = s42 = s50 = s51 = s52 = s60 = s61 = s62 = s70 = s71 = s72 = T(0)
            for k in range(K):
                y0, y1, y2 = w0[k], w1[k], w2[k]
                x = a0[k]
                s00 += x * y0
                s01 += x * y1
                s02 += x * y2
                x = a1[k]
                s10 += x * y0
                s11 += x * y1
                s12 += x * y2
                x = a2[k]
                s20 += x * y0
                s21 += x * y1
                s22 += x * y2
                x = a3[k]
                s30 += x * y0
                s31 += x * y1
                s32 += x * y2
                x = a4[k]
                s40 += x * y0
                s41 += x * y1
                s42 += x * y2
                x = a5[k]
                s50 += x * y0
                s51 += x * y1
                s52 += x * y2
                x = a6[k]
                s60 += x * y0
                s61 += x * y1
                s62 += x * y2
                x = a7[k]
                s70 += x * y0
                s71 += x * y1
                s72 += x * y2
            n_units = min(TILE_UNITS, j1 - j)
            if n_rows == TILE_ROWS and n_units == TILE_UNITS:  # a whole tile: straight to Z
                b0, b1, b2 = b[j], b[j + 1], b[j + 2]
                _store3(Z[i], j, s00 + b0, s01 + b1, s02 + b2)
                _store3(Z[i + 1], j, s10 + b0, s11 + b1, s12 + b2)
                _store3(Z[i + 2], j, s20 + b0, s21 + b1, s22 + b2)
                _store3(Z[i + 3], j, s30 + b0, s31 + b1, s32 + b2)
                _store3(Z[i + 4], j, s40 + b0, s41 + b1, s42 + b2)
                _store3(Z[i + 5], j, s50 + b0, s51 + b1, s52 + b2)
                _store3(Z[i + 6], j, s60 + b0, s61 + b1, s62 + b2)
                _store3(Z[i + 7], j, s70 + b0, s71 + b1, s72 + b2)
                continue
            tile[0, 0], tile[0, 1], tile[0, 2] = s00, s01, s02
            tile[1, 0], tile[1, 1], tile[1, 2] = s10, s11, s12
            tile[2, 0], tile[2, 1], tile[2, 2] = s20, s21, s22
            tile[3, 0], tile[3, 1], tile[3, 2] = s30, s31, s32
            tile[4, 0], tile[4, 1], tile[4, 2] = s40, s41, s42
            tile[5, 0], tile[5, 1], tile[5, 2] = s50, s51, s52
            tile[6, 0], tile[6, 1], tile[6, 2] = s60, s61, s62
            tile[7, 0], tile[7, 1], tile[7, 2] = s70, s71, s72
            for q in range(n_rows):
                for c in range(n_units):
                    Z[i + q, j + c] = tile[q, c] + b[j + c]


@_njit()
def dot_rows_4x3(A, W, b, Z, r0, r1, j0, j1, tile):
    """:func:`dot_rows_8x3` in 4 x 3 tiles: 12 accumulators + 3 weight vectors fit AVX2's 16."""
    T = Z.dtype.type
    K = A.shape[1]
    last_r, last_j = r1 - 1, j1 - 1
    for i in range(r0, r1, HALF_TILE_ROWS):
        a0, a1 = A[i], A[min(i + 1, last_r)]
        a2, a3 = A[min(i + 2, last_r)], A[min(i + 3, last_r)]
        n_rows = min(HALF_TILE_ROWS, r1 - i)
        for j in range(j0, j1, TILE_UNITS):
            w0, w1, w2 = W[j], W[min(j + 1, last_j)], W[min(j + 2, last_j)]
            s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = s30 = s31 = s32 = T(0)
            for k in range(K):
                y0, y1, y2 = w0[k], w1[k], w2[k]
                x = a0[k]
                s00 += x * y0
                s01 += x * y1
                s02 += x * y2
                x = a1[k]
                s10 += x * y0
                s11 += x * y1
                s12 += x * y2
                x = a2[k]
                s20 += x * y0
                s21 += x * y1
                s22 += x * y2
                x = a3[k]
                s30 += x * y0
                s31 += x * y1
                s32 += x * y2
            n_units = min(TILE_UNITS, j1 - j)
            if n_rows == HALF_TILE_ROWS and n_units == TILE_UNITS:  # a whole tile: straight to Z
                b0, b1, b2 = b[j], b[j + 1], b[j + 2]
                _store3(Z[i], j, s00 + b0, s01 + b1, s02 + b2)
                _store3(Z[i + 1], j, s10 + b0, s11 + b1, s12 + b2)
                _store3(Z[i + 2], j, s20 + b0, s21 + b1, s22 + b2)
                _store3(Z[i + 3], j, s30 + b0, s31 + b1, s32 + b2)
                continue
            tile[0, 0], tile[0, 1], tile[0, 2] = s00, s01, s02
            tile[1, 0], tile[1, 1], tile[1, 2] = s10, s11, s12
            tile[2, 0], tile[2, 1], tile[2, 2] = s20, s21, s22
            tile[3, 0], tile[3, 1], tile[3, 2] = s30, s31, s32
            for q in range(n_rows):
                for c in range(n_units):
                    Z[i + q, j + c] = tile[q, c] + b[j + c]


# The forward product for this CPU (kernels/_cpu.py); only the chosen variant is ever compiled.
dot_rows = dot_rows_8x3 if WIDE_TILE else dot_rows_4x3


@_njit()
def rank_slab(S, P, coef, base, cs0, cs1, n_rows, B, K, c0, c1):
    """S[r, :c1 - c0] = sum over k < K of a[r, k] * B[k, c0:c1], for r in 0..7.

    B: (K, n) C-contiguous; a[r, k] = coef[base + r' * cs0 + k * cs1] with r' = min(r, n_rows - 1)
    (rows past ``n_rows`` repeat the last one and are to be ignored). Scratch: S (8, >= c1 - c0)
    receives the result; P (8, >= K rounded up to 4) holds the packed coefficients, which
    measured 12% faster than strided loads inside the loop.
    """
    T = S.dtype.type
    n = c1 - c0
    for r in range(SLAB):
        row = base + min(r, n_rows - 1) * cs0
        for k in range(K):
            P[r, k] = coef[row + k * cs1]
        for k in range(K, (K + RANK - 1) // RANK * RANK):
            P[r, k] = T(0)
        for c in range(n):
            S[r, c] = T(0)
    s0, s1, s2, s3, s4, s5, s6, s7 = S[0], S[1], S[2], S[3], S[4], S[5], S[6], S[7]
    last_k = K - 1
    for k in range(0, K, RANK):
        b0, b1 = B[k, c0:c1], B[min(k + 1, last_k), c0:c1]
        b2, b3 = B[min(k + 2, last_k), c0:c1], B[min(k + 3, last_k), c0:c1]
        a00, a01, a02, a03 = P[0, k], P[0, k + 1], P[0, k + 2], P[0, k + 3]
        a10, a11, a12, a13 = P[1, k], P[1, k + 1], P[1, k + 2], P[1, k + 3]
        a20, a21, a22, a23 = P[2, k], P[2, k + 1], P[2, k + 2], P[2, k + 3]
        a30, a31, a32, a33 = P[3, k], P[3, k + 1], P[3, k + 2], P[3, k + 3]
        a40, a41, a42, a43 = P[4, k], P[4, k + 1], P[4, k + 2], P[4, k + 3]
        a50, a51, a52, a53 = P[5, k], P[5, k + 1], P[5, k + 2], P[5, k + 3]
        a60, a61, a62, a63 = P[6, k], P[6, k + 1], P[6, k + 2], P[6, k + 3]
        a70, a71, a72, a73 = P[7, k], P[7, k + 1], P[7, k + 2], P[7, k + 3]
        for c in range(n):
            x0, x1, x2, x3 = b0[c], b1[c], b2[c], b3[c]
            s0[c] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
            s1[c] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
            s2[c] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
            s3[c] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
            s4[c] += a40 * x0 + a41 * x1 + a42 * x2 + a43 * x3
            s5[c] += a50 * x0 + a51 * x1 + a52 * x2 + a53 * x3
            s6[c] += a60 * x0 + a61 * x1 + a62 * x2 + a63 * x3
            s7[c] += a70 * x0 + a71 * x1 + a72 * x2 + a73 * x3
