"""Counter-based dropout masks: the same bits for a (seed, step, layer, row, unit) on any engine.

A mask entry is a pure function of its coordinates, so the NumPy oracle and the Numba kernels
(``kernels/_jit_dropout.py``) draw identical masks without sharing a generator's state, in any
order and on any number of threads. The hash, ``mix64`` and ``absorb(h, x) = mix64(h + (x + 1) *
GAMMA)``, and its limits are :mod:`.counter_hash`'s:

* ``key = absorb(absorb(absorb(0, seed), step), layer)``, once per layer per optimizer step;
* ``bits = absorb(absorb(key, row), unit)``; ``u = (bits >> 11) * 2**-53``, in [0, 1) exactly;
* a unit is kept when ``u >= rate``; kept units are scaled by ``dtype(1 / (1 - rate))``, the
  quotient taken in float64 then cast (inverted dropout), dropped ones are 0.

``step`` is the optimizer's step count before the update (``OptimizerState.t``), ``layer`` the
0-based hidden layer, ``row`` the sample's row in the full data set (an entry of ``order``,
0..2**63-1), and ``unit`` the 0-based unit of that layer.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .counter_hash import (
    GOLDEN,
    MIX1,
    MIX2,
    absorb,
    check_counter,
    check_rows,
    mix64,
    unit_float,
)

# The hash and its limits live in .counter_hash; the names stay importable from here.
GAMMA = GOLDEN
_U64 = np.uint64
__all__ = [
    "GAMMA",
    "MIX1",
    "MIX2",
    "absorb",
    "check_counter",
    "check_rate",
    "dropout_mask",
    "dropout_rates",
    "dropout_uniform",
    "keep_scale",
    "mix64",
    "stream_key",
]


def stream_key(seed: int, step: int, layer: int) -> np.uint64:
    """The per-(seed, step, layer) key every mask entry of that layer and step starts from."""
    h = np.zeros((), _U64)
    for value, what in ((seed, "seed"), (step, "step"), (layer, "layer")):
        h = absorb(h, _U64(check_counter(value, what)))
    return _U64(h)


def dropout_uniform(seed: int, step: int, layer: int, rows: np.ndarray, units: int) -> np.ndarray:
    """(len(rows), units) float64 uniforms in [0, 1), entry [i, j] for (row rows[i], unit j)."""
    key = stream_key(seed, step, layer)
    row_keys = absorb(key, check_rows(rows))
    units = check_counter(units, "units")
    bits = absorb(row_keys[:, None], np.arange(units, dtype=_U64)[None, :])
    return unit_float(bits)


def check_rate(rate: object, what: str = "dropout rate") -> float:
    """A dropout rate as a float in [0, 1); TypeError/ValueError naming the value otherwise."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise TypeError(f"{what} must be a real number in [0, 1), got {rate!r}")
    value = float(rate)
    if not (math.isfinite(value) and 0 <= value < 1):
        raise ValueError(f"{what} must be in [0, 1), got {rate!r}")
    return value


def dropout_rates(dropout: float | Sequence[float], depth: int) -> tuple[float, ...]:
    """One rate per hidden layer from a single rate or a sequence of ``depth`` rates."""
    if isinstance(dropout, (str, bytes)) or not isinstance(dropout, (numbers.Real, Sequence)):
        raise TypeError(f"dropout must be a rate or a sequence of rates, got {dropout!r}")
    if isinstance(dropout, numbers.Real):
        return (check_rate(dropout),) * depth
    if len(dropout) != depth:
        raise ValueError(
            f"dropout must give one rate per hidden layer ({depth}), got {len(dropout)}: "
            f"{tuple(dropout)!r}"
        )
    return tuple(check_rate(r, f"dropout rate (in {tuple(dropout)!r})") for r in dropout)


def keep_scale(rate: float, dtype: np.dtype | type[np.floating]) -> np.floating:
    """The value of a kept unit: ``dtype(1 / (1 - rate))``, divided in float64."""
    return np.dtype(dtype).type(1.0 / (1.0 - rate))


def dropout_mask(
    rate: float,
    seed: int,
    step: int,
    layer: int,
    rows: np.ndarray,
    units: int,
    dtype: np.typing.DTypeLike = np.float64,
) -> np.ndarray:
    """(len(rows), units) inverted-dropout mask in ``dtype``: 0 or ``keep_scale(rate)``."""
    rate = check_rate(rate)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    keep = dropout_uniform(seed, step, layer, rows, units) >= rate
    return np.where(keep, keep_scale(rate, dtype), dtype.type(0))
