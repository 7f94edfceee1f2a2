"""Dropout masks from the Numba hash, with the reference's names and signatures.

Validated wrappers around :mod:`._jit_dropout`; they return bit for bit what
:func:`mnistbench.reference.dropout.dropout_mask` and ``dropout_uniform`` return, and check
their arguments with the reference's checks (:mod:`mnistbench.reference.counter_hash`).
"""

from __future__ import annotations

import numpy as np

from mnistbench.reference.counter_hash import check_counter, check_rows
from mnistbench.reference.dropout import check_rate, keep_scale

from . import _jit_dropout


def _counter(value: object, what: str) -> np.uint64:
    return np.uint64(check_counter(value, what))


def _units(units: object) -> int:
    if isinstance(units, (bool, np.bool_)) or not isinstance(units, (int, np.integer)):
        raise TypeError(f"units must be an integer, got {units!r}")
    if units < 0:
        raise ValueError(f"units must be >= 0, got {units!r}")
    return int(units)


def dropout_uniform(seed: int, step: int, layer: int, rows: np.ndarray, units: int) -> np.ndarray:
    """(len(rows), units) float64 uniforms in [0, 1) for (seed, step, layer, rows[i], unit j)."""
    counters = tuple(_counter(v, w) for v, w in ((seed, "seed"), (step, "step"), (layer, "layer")))
    rows = check_rows(rows)
    out = np.empty((rows.size, _units(units)), np.float64)
    _jit_dropout.fill_uniform(*counters, rows, out)
    return out


def dropout_mask(
    rate: float,
    seed: int,
    step: int,
    layer: int,
    rows: np.ndarray,
    units: int,
    dtype: np.typing.DTypeLike = np.float64,
) -> np.ndarray:
    """(len(rows), units) inverted-dropout mask in ``dtype``: 0 or ``dtype(1 / (1 - rate))``."""
    rate = check_rate(rate)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    counters = tuple(_counter(v, w) for v, w in ((seed, "seed"), (step, "step"), (layer, "layer")))
    rows = check_rows(rows)
    out = np.empty((rows.size, _units(units)), dtype)
    _jit_dropout.fill_mask(*counters, rows, rate, keep_scale(rate, dtype), out)
    return out
