"""Dropout masks from the Numba hash, with the reference's names and signatures.

Validated wrappers around :mod:`._jit_dropout`; they return bit for bit what
:func:`mnistbench.reference.dropout.dropout_mask` and ``dropout_uniform`` return.
"""

from __future__ import annotations

import numpy as np

from mnistbench.reference.dropout import check_rate, keep_scale

from . import _jit_dropout

_MAX_U64 = 2**64 - 1


def _counter(value: object, what: str) -> np.uint64:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if not 0 <= value <= _MAX_U64:
        raise ValueError(f"{what} must be in 0..2**64-1, got {value!r}")
    return np.uint64(value)


def _rows(rows: object) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "ui"):
        raise ValueError(f"rows must be a 1-D integer array, got {rows.dtype} {rows.shape}")
    if rows.size and (rows.min() < 0 or rows.max() > np.iinfo(np.int64).max):
        raise ValueError(f"rows must be in 0..2**63-1, got {rows.min()}..{rows.max()}")
    return np.ascontiguousarray(rows, dtype=np.int64)


def _units(units: object) -> int:
    if isinstance(units, (bool, np.bool_)) or not isinstance(units, (int, np.integer)):
        raise TypeError(f"units must be an integer, got {units!r}")
    if units < 0:
        raise ValueError(f"units must be >= 0, got {units!r}")
    return int(units)


def dropout_uniform(seed: int, step: int, layer: int, rows: np.ndarray, units: int) -> np.ndarray:
    """(len(rows), units) float64 uniforms in [0, 1) for (seed, step, layer, rows[i], unit j)."""
    seed, step, layer = (
        _counter(v, w) for v, w in ((seed, "seed"), (step, "step"), (layer, "layer"))
    )
    rows = _rows(rows)
    out = np.empty((rows.size, _units(units)), np.float64)
    _jit_dropout.fill_uniform(seed, step, layer, rows, out)
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
    seed, step, layer = (
        _counter(v, w) for v, w in ((seed, "seed"), (step, "step"), (layer, "layer"))
    )
    rows = _rows(rows)
    out = np.empty((rows.size, _units(units)), dtype)
    _jit_dropout.fill_mask(seed, step, layer, rows, rate, keep_scale(rate, dtype), out)
    return out
