"""Batch normalisation of hidden pre-activations, in NumPy (PyTorch's ``BatchNorm1d`` conventions).

A hidden layer with batch norm computes ``Z = A_prev @ W.T + b``, then ``H = gamma * Zhat + beta``
and feeds ``H`` to the activation (Z -> BN -> activation, as in the original paper):

* training: ``Zhat = (Z - mean) / sqrt(var + eps)`` over the batch's rows, ``var`` biased
  (divided by m), ``eps = 1e-5``; the running statistics then move towards the batch's:
  ``running_mean = dtype(1 - momentum) * running_mean + dtype(momentum) * mean`` and the same for
  ``running_var`` with the *unbiased* variance ``var * dtype(m / (m - 1))``; a batch of one row
  leaves them unchanged (it has no variance to measure);
* prediction: ``Zhat = (Z - running_mean) / sqrt(running_var + eps)``.

``b`` cancels in ``Z - mean``: its gradient is exactly 0 in a batch-norm layer.

Learnable parameters live in :class:`BatchNorm`, a flat tuple ``(gamma_1, beta_1, ...,
gamma_D, beta_D)`` beside the :class:`.network.Network` (which is unchanged); running statistics
in :class:`RunningStats`, updated in place like an optimizer's buffers. Initial values as
PyTorch: gamma 1, beta 0, running mean 0, running variance 1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .network import check_float_arrays

BN_EPS = 1e-5
DEFAULT_MOMENTUM = 0.1


class BatchNorm(tuple):
    """Scale and shift ``(gamma_1, beta_1, ..., gamma_D, beta_D)``, one pair per hidden layer.

    Each ``(units_l,)``, in one float dtype. Gradients use the same type.
    """

    __slots__ = ()

    def __new__(cls, arrays: Iterable[np.ndarray]) -> BatchNorm:
        """Check the arrays: an even number >= 2, 1-D, one floating dtype, gamma and beta alike."""
        self = super().__new__(cls, arrays)
        if len(self) < 2 or len(self) % 2:
            raise ValueError(
                f"a BatchNorm holds (gamma_1, beta_1, ...): an even number >= 2 of arrays, "
                f"got {len(self)}"
            )
        check_float_arrays(self, "BatchNorm array")
        for layer, (gamma, beta) in enumerate(zip(self[0::2], self[1::2], strict=True)):
            if gamma.ndim != 1 or beta.shape != gamma.shape:
                raise ValueError(
                    f"hidden layer {layer + 1}: gamma and beta must be (units,), got "
                    f"{gamma.shape} and {beta.shape}"
                )
        return self

    @property
    def gammas(self) -> tuple[np.ndarray, ...]:
        """The scale of each normalised layer, ``(units,)``."""
        return tuple(self[0::2])

    @property
    def betas(self) -> tuple[np.ndarray, ...]:
        """The shift of each normalised layer, ``(units,)``."""
        return tuple(self[1::2])

    @property
    def units(self) -> tuple[int, ...]:
        """Width of each normalised hidden layer."""
        return tuple(g.shape[0] for g in self.gammas)

    @property
    def dtype(self) -> np.dtype:
        """The arrays' floating dtype."""
        return self[0].dtype

    def copy(self) -> BatchNorm:
        """A deep copy: new arrays with the same values."""
        return BatchNorm(np.array(a, copy=True) for a in self)

    def __repr__(self) -> str:
        return f"BatchNorm(units={self.units}, dtype={self.dtype})"


@dataclass
class RunningStats:
    """Running mean and (unbiased) variance per hidden layer, each ``(units_l,)``.

    Updated in place by training, read at prediction.
    """

    mean: tuple[np.ndarray, ...]
    var: tuple[np.ndarray, ...]

    def copy(self) -> RunningStats:
        """A deep copy: new arrays with the same values."""
        return RunningStats(tuple(a.copy() for a in self.mean), tuple(a.copy() for a in self.var))


def init_batch_norm(hidden_units: Iterable[int], dtype: np.typing.DTypeLike) -> BatchNorm:
    """Gamma = 1, beta = 0 for hidden layers of the given widths (``network.sizes[1:-1]``)."""
    dtype = np.dtype(dtype)
    arrays = []
    for units in hidden_units:
        arrays += [np.ones(units, dtype), np.zeros(units, dtype)]
    return BatchNorm(arrays)


def init_running_stats(bn: BatchNorm) -> RunningStats:
    """Running mean 0 and variance 1 for every unit of ``bn``, in its dtype."""
    return RunningStats(
        tuple(np.zeros_like(g) for g in bn.gammas), tuple(np.ones_like(g) for g in bn.gammas)
    )


def check_momentum(momentum: object) -> float:
    """Batch-norm momentum as a float in (0, 1); TypeError/ValueError naming it otherwise."""
    if isinstance(momentum, (bool, np.bool_)) or not isinstance(momentum, numbers.Real):
        raise TypeError(f"batch norm momentum must be a real number in (0, 1), got {momentum!r}")
    value = float(momentum)
    if not (math.isfinite(value) and 0 < value < 1):
        raise ValueError(f"batch norm momentum must be in (0, 1), got {momentum!r}")
    return value


def check_batch_norm(bn: object, hidden_units: tuple[int, ...], dtype: np.dtype) -> None:
    """``bn`` must be a BatchNorm for hidden layers of these widths, in ``dtype``."""
    if not isinstance(bn, BatchNorm):
        raise TypeError(f"bn must be a BatchNorm, got {type(bn).__name__}")
    if bn.units != hidden_units:
        raise ValueError(f"bn must normalise hidden layers {hidden_units}, got {bn.units}")
    if bn.dtype != dtype:
        raise TypeError(f"bn must be {dtype} like the network, got {bn.dtype}")


def check_running_stats(running: object, bn: BatchNorm) -> None:
    """Raise unless ``running`` is a ``RunningStats`` whose shapes and dtype match ``bn``."""
    if not isinstance(running, RunningStats):
        raise TypeError(f"running must be a RunningStats, got {type(running).__name__}")
    for name in ("mean", "var"):
        arrays = getattr(running, name)
        shapes = tuple(a.shape for a in arrays)
        if shapes != tuple((u,) for u in bn.units) or any(a.dtype != bn.dtype for a in arrays):
            raise ValueError(
                f"running.{name} must be {bn.dtype} arrays of widths {bn.units}, got "
                f"{[(a.dtype.name, a.shape) for a in arrays]}"
            )


class BatchStats(NamedTuple):
    """What training-mode batch norm of one layer keeps for its backward pass.

    Each ``(units,)`` except ``Zhat`` ``(m, units)``; ``var`` is biased.
    """

    Zhat: np.ndarray
    inv_std: np.ndarray
    mean: np.ndarray
    var: np.ndarray


def forward_train(
    Z: np.ndarray, gamma: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, BatchStats]:
    """Z: (m, units) -> H = gamma * Zhat + beta with the batch's own statistics."""
    dtype = Z.dtype.type
    mean = Z.mean(axis=0)
    centred = Z - mean
    var = (centred * centred).mean(axis=0)
    inv_std = dtype(1) / np.sqrt(var + dtype(BN_EPS))
    Zhat = centred * inv_std
    return gamma * Zhat + beta, BatchStats(Zhat, inv_std, mean, var)


def forward_eval(
    Z: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
) -> np.ndarray:
    """Z: (m, units) -> H with the running statistics (prediction)."""
    inv_std = Z.dtype.type(1) / np.sqrt(running_var + Z.dtype.type(BN_EPS))
    return gamma * ((Z - running_mean) * inv_std) + beta


def backward(
    dH: np.ndarray, gamma: np.ndarray, stats: BatchStats
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Given dH (m, units), return (dZ, dgamma, dbeta) of a *sum* over rows.

    dH is the gradient of the sum w.r.t. H; dZ (m, units) is of the same sum, dgamma and dbeta are
    summed over rows (not averaged).
    """
    dgamma = (dH * stats.Zhat).sum(axis=0)
    dbeta = dH.sum(axis=0)
    dZhat = dH * gamma
    dZ = stats.inv_std * (
        dZhat - dZhat.mean(axis=0) - stats.Zhat * (dZhat * stats.Zhat).mean(axis=0)
    )
    return dZ, dgamma, dbeta


def update_running(
    running_mean: np.ndarray,
    running_var: np.ndarray,
    stats: BatchStats,
    m: int,
    momentum: float,
) -> None:
    """Move the running statistics (in place) towards a batch of ``m`` rows; no-op for m < 2."""
    if m < 2:
        return
    dtype = running_mean.dtype.type
    keep, take = dtype(1.0 - momentum), dtype(momentum)
    unbiased = stats.var * dtype(m / (m - 1))
    running_mean *= keep
    running_mean += take * stats.mean
    running_var *= keep
    running_var += take * unbiased
