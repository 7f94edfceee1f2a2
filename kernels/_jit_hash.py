"""Private Numba twin of :mod:`mnistbench.reference.counter_hash`, tested bit for bit against it.

Every operand is uint64 (Numba would promote a uint64 mixed with an int64 to float64), so the
arithmetic wraps modulo 2**64 exactly as NumPy's. Dropout (``_jit_dropout``) chains
:func:`absorb`, augmentation (``_jit_augment``) :func:`splitmix_step`; both draw floats with
:func:`unit_float`.
"""

from __future__ import annotations

import numpy as np

from mnistbench.reference.counter_hash import GOLDEN, MIX1, MIX2

from ._numba import njit

_GOLDEN = np.uint64(GOLDEN)
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
    """mix64(h + (x + 1) * GOLDEN); h, x: uint64."""
    return mix64(h + (x + _ONE) * _GOLDEN)


@njit
def splitmix_step(z):
    """mix64(z + GOLDEN): the next splitmix64 output from state z (uint64)."""
    return mix64(z + _GOLDEN)


@njit
def unit_float(bits):
    """float64 in [0, 1) from the top 53 bits of a uint64."""
    return np.float64(bits >> _S11) * _TWO_POW_M53
