"""The seed's first layer on a block of 4 rows, in the tile that fits the CPU's vector registers.

For ``_jit_seed.accumulate``/``forward_rows``; the CPU's registers come from kernels/_cpu.py.

``z1[s, j] = W1[j] . xb[s]`` for the 4 rows of ``xb`` and every hidden unit. Each pass over the
pixels keeps 4 rows x u units of accumulators: u = 5 (20 accumulators + 5 weight vectors) where
there are 32 vector registers (AVX-512), u = 2 (8 + 2) with AVX2's 16. At hidden 10 the wide
tile reads the block twice instead of five times; 7% less time per fused pass on the AMD EPYC
(Zen 5) this was measured on (one thread, 20,500 rows, float32 from uint8, CPU time 8.3 -> 7.7
ms, median of 15 interleaved).
"""

from __future__ import annotations

from ._cpu import WIDE_TILE
from ._numba import njit


@njit
def layer1_block_4x2(W1, xb, z1):
    """z1[s, j] = W1[j] . xb[s] for the 4 rows of xb, two hidden units per pass.

    8 accumulators: the tile for AVX2's 16 vector registers.
    """
    T = W1.dtype.type
    hidden, n_in = W1.shape
    x0, x1, x2, x3 = xb[0], xb[1], xb[2], xb[3]
    for j in range(0, hidden - 1, 2):
        wa, wb = W1[j], W1[j + 1]
        a0 = a1 = a2 = a3 = c0 = c1 = c2 = c3 = T(0)
        for k in range(n_in):
            a0 += wa[k] * x0[k]
            a1 += wa[k] * x1[k]
            a2 += wa[k] * x2[k]
            a3 += wa[k] * x3[k]
            c0 += wb[k] * x0[k]
            c1 += wb[k] * x1[k]
            c2 += wb[k] * x2[k]
            c3 += wb[k] * x3[k]
        z1[0, j], z1[1, j], z1[2, j], z1[3, j] = a0, a1, a2, a3
        z1[0, j + 1], z1[1, j + 1], z1[2, j + 1], z1[3, j + 1] = c0, c1, c2, c3
    if hidden % 2 == 1:
        j = hidden - 1
        wa = W1[j]
        a0 = a1 = a2 = a3 = T(0)
        for k in range(n_in):
            a0 += wa[k] * x0[k]
            a1 += wa[k] * x1[k]
            a2 += wa[k] * x2[k]
            a3 += wa[k] * x3[k]
        z1[0, j], z1[1, j], z1[2, j], z1[3, j] = a0, a1, a2, a3


@njit
def layer1_block_4x5(W1, xb, z1):
    """:func:`layer1_block_4x2` five hidden units per pass (20 accumulators: AVX-512)."""
    T = W1.dtype.type
    hidden, n_in = W1.shape
    x0, x1, x2, x3 = xb[0], xb[1], xb[2], xb[3]
    last = hidden - 1
    for j in range(0, hidden, 5):
        w0, w1, w2 = W1[j], W1[min(j + 1, last)], W1[min(j + 2, last)]
        w3, w4 = W1[min(j + 3, last)], W1[min(j + 4, last)]
        s00 = s01 = s02 = s03 = s04 = s10 = s11 = s12 = s13 = s14 = T(0)
        s20 = s21 = s22 = s23 = s24 = s30 = s31 = s32 = s33 = s34 = T(0)
        for k in range(n_in):
            y0, y1, y2, y3, y4 = w0[k], w1[k], w2[k], w3[k], w4[k]
            x = x0[k]
            s00 += x * y0
            s01 += x * y1
            s02 += x * y2
            s03 += x * y3
            s04 += x * y4
            x = x1[k]
            s10 += x * y0
            s11 += x * y1
            s12 += x * y2
            s13 += x * y3
            s14 += x * y4
            x = x2[k]
            s20 += x * y0
            s21 += x * y1
            s22 += x * y2
            s23 += x * y3
            s24 += x * y4
            x = x3[k]
            s30 += x * y0
            s31 += x * y1
            s32 += x * y2
            s33 += x * y3
            s34 += x * y4
        units = min(5, hidden - j)  # the clamped units past the last are computed, not stored
        for s, (a, b, c, d, e) in enumerate(
            (
                (s00, s01, s02, s03, s04),
                (s10, s11, s12, s13, s14),
                (s20, s21, s22, s23, s24),
                (s30, s31, s32, s33, s34),
            )
        ):
            z1[s, j] = a
            if units > 1:
                z1[s, j + 1] = b
            if units > 2:
                z1[s, j + 2] = c
            if units > 3:
                z1[s, j + 3] = d
            if units > 4:
                z1[s, j + 4] = e


# The variant for this CPU; only the chosen one is ever compiled.
layer1_block = layer1_block_4x5 if WIDE_TILE else layer1_block_4x2
