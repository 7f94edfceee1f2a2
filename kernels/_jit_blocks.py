"""Private Numba helpers of the layer-stack kernels (``_jit_network``): the flat layout.

``params`` holds ``W1, b1, ..., WL, bL`` C-ordered at offsets ``woff``/``boff``; a per-row buffer
holds layer ``l``'s ``(rows, sizes[l])`` block at offset ``rows * cum[l]``; a row of ``X``
arrives as raw bytes that ``x_kind`` says how to read.
"""

from __future__ import annotations

import numpy as np

from ._numba import njit

# np.int64, not int: a Python int reaching a call is typed Literal[int] (one compile per value).
X_UINT8, X_FLOAT32, X_FLOAT64 = (np.int64(i) for i in range(3))


@njit
def split(n, parts, part, align):
    """[lo, hi) of ``part`` when 0..n-1 is cut into ``parts`` pieces aligned to ``align``."""
    chunk = ((n + parts - 1) // parts + align - 1) // align * align
    lo = min(part * chunk, n)
    return lo, min(lo + chunk, n)


@njit
def block(flat, cum, rows, layer, units):
    """Layer ``layer``'s (rows, units) block of a flat per-row buffer."""
    start = rows * cum[layer]
    return flat[start : start + rows * units].reshape((rows, units))


@njit
def weights(params, woff, boff, sizes, layer):
    """(W, b) of layer ``layer`` (1-based) as views into the flat params."""
    n_out, n_in = sizes[layer], sizes[layer - 1]
    W = params[woff[layer - 1] : woff[layer - 1] + n_out * n_in].reshape((n_out, n_in))
    return W, params[boff[layer - 1] : boff[layer - 1] + n_out]


@njit
def copy(dst, src):
    """Copy: dst[:] = src[:] for 1-D arrays.

    An explicit loop: slice assignment compiles Numba's shape-mismatch message formatting,
    seconds of cold compile.
    """
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@njit
def pack_row(X, x_kind, src, dst, scale):
    """Load row ``src`` of X (raw bytes read as ``x_kind``) into dst, its dtype, times ``scale``."""
    T = dst.dtype.type
    raw = X[src]
    if x_kind == X_UINT8:
        for k in range(dst.shape[0]):
            dst[k] = T(raw[k]) * scale
    elif x_kind == X_FLOAT32:
        values = raw.view(np.float32)
        for k in range(dst.shape[0]):
            dst[k] = T(values[k])
    else:
        values = raw.view(np.float64)
        for k in range(dst.shape[0]):
            dst[k] = T(values[k])
