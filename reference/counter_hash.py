"""The counter-based hash every random draw of the project comes from (splitmix64's mixer).

A draw is a pure function of its coordinates, so the NumPy oracle and the Numba kernels
(``kernels/_jit_hash.py``, tested bit for bit against this module) draw identical numbers without
sharing a generator's state, in any order and on any number of threads. All arithmetic is on
uint64, modulo 2**64:

* ``mix64(z)``: the splitmix64 finalizer,
  ``z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31``;
* ``absorb(h, x) = mix64(h + (x + 1) * GOLDEN)`` with ``GOLDEN = 0x9E3779B97F4A7C15``, so
  ``absorb(0, x)`` is output ``x + 1`` of splitmix64 seeded with 0 (dropout's chain);
* ``splitmix_step(z) = mix64(z + GOLDEN) = absorb(z, 0)``: one splitmix64 step from state ``z``
  (augmentation's chain, which folds its coordinates in with ``^``);
* ``unit_float(bits) = (bits >> 11) * 2**-53``: a float64 in [0, 1), exactly.

Limits, the same on every path: a counter (seed, step, epoch, layer, unit) is any uint64,
0..2**64-1; a data-set row is 0..2**63-1, because the kernels hold rows as int64 indices (an
epoch's ``order``, dropout's ``mask_rows``), so a row beyond that could reach the oracle but
never a kernel.
"""

from __future__ import annotations

import numbers

import numpy as np

GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
COUNTER_MAX = 2**64 - 1
ROW_MAX = 2**63 - 1
_U64 = np.uint64


def mix64(z: np.typing.ArrayLike) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on a uint64 array (a bijection of uint64)."""
    z = np.asarray(z, dtype=_U64)
    with np.errstate(over="ignore"):  # wraparound is the point; 0-d operands would warn
        z = (z ^ (z >> _U64(30))) * _U64(MIX1)
        z = (z ^ (z >> _U64(27))) * _U64(MIX2)
    return z ^ (z >> _U64(31))


def absorb(h: np.typing.ArrayLike, x: np.typing.ArrayLike) -> np.ndarray:
    """mix64(h + (x + 1) * GOLDEN) modulo 2**64; h and x broadcast, both read as uint64."""
    x = np.asarray(x, dtype=_U64)
    with np.errstate(over="ignore"):
        return mix64(np.asarray(h, dtype=_U64) + (x + _U64(1)) * _U64(GOLDEN))


def splitmix_step(z: np.typing.ArrayLike) -> np.ndarray:
    """mix64(z + GOLDEN) modulo 2**64: the next output of splitmix64 from state ``z``."""
    with np.errstate(over="ignore"):
        return mix64(np.asarray(z, dtype=_U64) + _U64(GOLDEN))


def unit_float(bits: np.typing.ArrayLike) -> np.ndarray:
    """float64 in [0, 1) from the top 53 of 64 hashed bits."""
    return (np.asarray(bits, dtype=_U64) >> _U64(11)).astype(np.float64) * 2.0**-53


def check_counter(value: object, what: str) -> int:
    """``value`` as an int, checked to be an integer in 0..2**64-1 (``what`` is for the message)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if not 0 <= int(value) <= COUNTER_MAX:
        raise ValueError(f"{what} must be in 0..2**64-1, got {value!r}")
    return int(value)


def check_row(value: object, what: str = "row") -> int:
    """A data-set row as an int, checked to be an integer in 0..2**63-1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if not 0 <= int(value) <= ROW_MAX:
        raise ValueError(f"{what} must be in 0..2**63-1, got {value!r}")
    return int(value)


def check_rows(rows: object, what: str = "rows") -> np.ndarray:
    """A 1-D integer array of data-set rows, each in 0..2**63-1, as C-contiguous int64."""
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "ui"):
        raise ValueError(f"{what} must be a 1-D integer array, got {rows.dtype} {rows.shape}")
    if rows.size and (rows.min() < 0 or rows.max() > ROW_MAX):
        raise ValueError(f"{what} must be in 0..2**63-1, got {rows.min()}..{rows.max()}")
    return np.ascontiguousarray(rows, dtype=np.int64)
