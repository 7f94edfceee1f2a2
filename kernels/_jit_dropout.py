"""Private Numba twin of :mod:`mnistbench.reference.dropout`: the same counter-based hash.

Every operand is uint64 (Numba would promote a uint64 mixed with an int64 to float64), so the
arithmetic wraps modulo 2**64 exactly as NumPy's. Other kernels call these from inside their own
loops: ``stream_key`` once per layer and step, ``absorb(key, row)`` once per row, then
``unit_uniform(row_key, unit)`` (or ``fill_mask_row``) per unit.
"""

from __future__ import annotations

import numpy as np

from mnistbench.reference.dropout import GAMMA, MIX1, MIX2

from ._numba import njit

_GAMMA = np.uint64(GAMMA)
_MIX1 = np.uint64(MIX1)
_MIX2 = np.uint64(MIX2)
_ONE = np.uint64(1)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_POW_M53 = 2.0**-53


@njit
def mix64(z):
    """splitmix64 finalizer of a uint64."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit
def absorb(h, x):
    """mix64(h + (x + 1) * GAMMA); h, x: uint64."""
    return mix64(h + (x + _ONE) * _GAMMA)


@njit
def stream_key(seed, step, layer):
    """Key of one (seed, step, layer); arguments: non-negative integers (converted to uint64)."""
    h = absorb(np.uint64(0), np.uint64(seed))
    h = absorb(h, np.uint64(step))
    return absorb(h, np.uint64(layer))


@njit
def unit_uniform(row_key, unit):
    """Uniform in [0, 1) (float64) of ``unit`` in the row whose key is ``absorb(key, row)``."""
    bits = absorb(row_key, np.uint64(unit))
    return np.float64(bits >> _S11) * _TWO_POW_M53


@njit
def fill_mask_row(row_key, rate, scale, out_row):
    """out_row[j] = scale if unit j is kept (uniform >= rate) else 0; out_row: (units,)."""
    zero = out_row.dtype.type(0)
    for j in range(out_row.shape[0]):
        out_row[j] = scale if unit_uniform(row_key, j) >= rate else zero


@njit
def fill_mask(seed, step, layer, rows, rate, scale, out):
    """out: (len(rows), units) mask of ``rows`` (int64 data-set rows) at (seed, step, layer)."""
    key = stream_key(seed, step, layer)
    for i in range(rows.shape[0]):
        fill_mask_row(absorb(key, np.uint64(rows[i])), rate, scale, out[i])


@njit
def fill_uniform(seed, step, layer, rows, out):
    """out: (len(rows), units) float64 uniforms, as reference.dropout.dropout_uniform."""
    key = stream_key(seed, step, layer)
    for i in range(rows.shape[0]):
        row_key = absorb(key, np.uint64(rows[i]))
        for j in range(out.shape[1]):
            out[i, j] = unit_uniform(row_key, j)
