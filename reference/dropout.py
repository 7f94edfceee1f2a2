"""Counter-based dropout masks: the same bits for a (seed, step, layer, row, unit) on any engine.

A mask entry is a pure function of its coordinates, so the NumPy oracle and the Numba kernels
(``kernels/_jit_dropout.py``) draw identical masks without sharing a generator's state, in any
order and on any number of threads. All arithmetic is on uint64, modulo 2**64:

* ``mix64(z)``: the splitmix64 finalizer,
  ``z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31``;
* ``absorb(h, x) = mix64(h + (x + 1) * GAMMA)`` with ``GAMMA = 0x9E3779B97F4A7C15``, so
  ``absorb(0, x)`` is output ``x + 1`` of splitmix64 seeded with 0;
* ``key = absorb(absorb(absorb(0, seed), step), layer)``, once per layer per optimizer step;
* ``bits = absorb(absorb(key, row), unit)``; ``u = (bits >> 11) * 2**-53``, in [0, 1) exactly;
* a unit is kept when ``u >= rate``; kept units are scaled by ``dtype(1 / (1 - rate))``, the
  quotient taken in float64 then cast (inverted dropout), dropped ones are 0.

``step`` is the optimizer's step count before the update (``OptimizerState.t``), ``layer`` the
0-based hidden layer, ``row`` the sample's row in the full data set (an entry of ``order``), and
``unit`` the 0-based unit of that layer.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
_U64 = np.uint64
_MAX_U64 = 2**64 - 1


def mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on a uint64 array (a bijection of uint64)."""
    z = np.asarray(z, dtype=_U64)
    with np.errstate(over="ignore"):  # wraparound is the point; 0-d operands would warn
        z = (z ^ (z >> _U64(30))) * _U64(MIX1)
        z = (z ^ (z >> _U64(27))) * _U64(MIX2)
    return z ^ (z >> _U64(31))


def absorb(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """mix64(h + (x + 1) * GAMMA) modulo 2**64; h and x broadcast, both read as uint64."""
    x = np.asarray(x, dtype=_U64)
    with np.errstate(over="ignore"):
        return mix64(np.asarray(h, dtype=_U64) + (x + _U64(1)) * _U64(GAMMA))


def check_counter(value: object, what: str) -> int:
    """``value`` as an int, checked to be an integer in 0..2**64-1 (``what`` is for the message)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if not 0 <= value <= _MAX_U64:
        raise ValueError(f"{what} must be in 0..2**64-1, got {value!r}")
    return int(value)


def stream_key(seed: int, step: int, layer: int) -> np.uint64:
    """The per-(seed, step, layer) key every mask entry of that layer and step starts from."""
    h = np.zeros((), _U64)
    for value, what in ((seed, "seed"), (step, "step"), (layer, "layer")):
        h = absorb(h, _U64(check_counter(value, what)))
    return _U64(h)


def _rows(rows: object) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "ui"):
        raise ValueError(f"rows must be a 1-D integer array, got {rows.dtype} {rows.shape}")
    if rows.size and rows.min() < 0:
        raise ValueError(f"rows must be >= 0, got {rows.min()}")
    return rows.astype(_U64)


def dropout_uniform(seed: int, step: int, layer: int, rows: np.ndarray, units: int) -> np.ndarray:
    """(len(rows), units) float64 uniforms in [0, 1), entry [i, j] for (row rows[i], unit j)."""
    key = stream_key(seed, step, layer)
    row_keys = absorb(key, _rows(rows))
    units = check_counter(units, "units")
    bits = absorb(row_keys[:, None], np.arange(units, dtype=_U64)[None, :])
    return (bits >> _U64(11)).astype(np.float64) * 2.0**-53


def check_rate(rate: object, what: str = "dropout rate") -> float:
    """A dropout rate as a float in [0, 1); TypeError/ValueError naming the value otherwise."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise TypeError(f"{what} must be a real number in [0, 1), got {rate!r}")
    if not (math.isfinite(rate) and 0 <= rate < 1):
        raise ValueError(f"{what} must be in [0, 1), got {rate!r}")
    return float(rate)


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


def keep_scale(rate: float, dtype: np.typing.DTypeLike) -> np.floating:
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
