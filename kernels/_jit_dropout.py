"""Private Numba twin of :mod:`mnistbench.reference.dropout`: the same counter-based hash.

The hash is :mod:`._jit_hash`'s; the results agree with the reference's bit for bit.

Other kernels call these from inside their own loops: ``stream_key`` once per layer and step,
``absorb(key, row)`` once per row, then ``unit_uniform(row_key, unit)`` (or ``fill_mask_row``)
per unit.
"""

from __future__ import annotations

import numpy as np

from ._jit_hash import absorb, unit_float
from ._numba import njit

__all__ = ["absorb", "fill_mask", "fill_mask_row", "fill_uniform", "stream_key", "unit_uniform"]


@njit
def stream_key(seed, step, layer):
    """Key of one (seed, step, layer); arguments: non-negative integers (converted to uint64)."""
    h = absorb(np.uint64(0), np.uint64(seed))
    h = absorb(h, np.uint64(step))
    return absorb(h, np.uint64(layer))


@njit
def unit_uniform(row_key, unit):
    """Uniform in [0, 1) (float64) of ``unit`` in the row whose key is ``absorb(key, row)``."""
    return unit_float(absorb(row_key, np.uint64(unit)))


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
