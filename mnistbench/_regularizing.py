"""Dropout, L1 and batch norm in the estimator's training: settings, weights, reference epochs.

The estimator's ``dropout`` (one rate, or one per hidden layer), ``l1`` and ``batch_norm``/
``bn_momentum`` become one :class:`Regularization`. A network trained with any of them is always
a layer stack (``reference.network.Network``, never the seed's ``Params``); with batch norm it
is a :class:`BatchNormNetwork`, which carries the learnable scale and shift (``bn``) and the
running statistics (``running``) beside its weights, so the shared loop, early stopping,
``partial_fit`` and model files move them along with the weights. The optimizer state covers
``(*network, *bn)`` (:func:`state_for`). Dropout masks are drawn at (``random_state``'s seed,
optimizer step before the update, hidden layer, data-set row, unit) by
:mod:`mnistbench.reference.dropout` or its Numba twin, identically on both engines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError

from mnistbench.kernels.regularized import RegularizedRunner
from mnistbench.reference.batchnorm import (
    BN_EPS,
    BatchNorm,
    RunningStats,
    init_batch_norm,
    init_running_stats,
)
from mnistbench.reference.model import Params
from mnistbench.reference.network import Network
from mnistbench.reference.optim import OptimizerConfig, OptimizerState, init_state
from mnistbench.reference.regularized import init_regularized_state, regularized_epoch
from mnistbench.reference.training import as_float

__all__ = [
    "BatchNormNetwork",
    "Regularization",
    "folded",
    "kernel_epoch_fn",
    "reference_epoch_fn",
    "regularization_for",
    "regularized_weights",
    "state_for",
]

# The batch-norm arrays of a hidden layer (numbered from 1) in a model file.
BN_KINDS = ("gamma", "beta", "running_mean", "running_var")


@dataclass(frozen=True)
class Regularization:
    """What a regularised epoch needs besides L2: ``dropout`` one rate per hidden layer, ``l1``
    the coefficient of ``l1 * sum |W|`` (weights only), ``seed`` the dropout masks' seed."""

    l1: float = 0.0
    dropout: tuple[float, ...] = ()
    batch_norm: bool = False
    bn_momentum: float = 0.1
    seed: int = 0

    @property
    def has_dropout(self) -> bool:
        return any(rate > 0 for rate in self.dropout)


def _rates(dropout: Any, depth: int) -> tuple[float, ...]:
    """One rate per hidden layer from the estimator's ``dropout``; InvalidParameterError (a
    ValueError) naming the value otherwise."""
    if isinstance(dropout, Real) and not isinstance(dropout, bool):
        values = [dropout] * depth
    else:
        values = np.asarray(dropout, dtype=object).ravel().tolist()
        if len(values) != depth:
            raise InvalidParameterError(
                f"The 'dropout' parameter of MLPClassifier must be a rate in [0, 1) or one rate "
                f"per hidden layer ({depth}). Got {dropout!r} instead."
            )
    rates = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
            raise InvalidParameterError(
                f"The 'dropout' parameter of MLPClassifier must be a rate in [0, 1) or a sequence "
                f"of such rates. Got {dropout!r} instead."
            )
        rates.append(float(value))
    return tuple(rates)


def regularization_for(est: Any, depth: int, seed: int) -> Regularization | None:
    """The estimator's dropout, l1 and batch norm for ``depth`` hidden layers (None when all
    are off), checked before anything trains."""
    rates = _rates(est.dropout, depth)
    l1 = float(est.l1)
    if not (math.isfinite(l1) and l1 >= 0):  # the constraint also refuses these
        raise InvalidParameterError(
            f"The 'l1' parameter of MLPClassifier must be >= 0. Got {est.l1!r} instead."
        )
    reg = Regularization(l1, rates, bool(est.batch_norm), float(est.bn_momentum), int(seed))
    if not (reg.l1 or reg.has_dropout or reg.batch_norm):
        return None
    if est.solver == "lbfgs" and (reg.has_dropout or reg.batch_norm):
        raise ValueError("dropout and batch_norm need a stochastic solver (sgd or adam), got lbfgs")
    return reg


class BatchNormNetwork(Network):
    """A :class:`~mnistbench.reference.network.Network` ``(W1, b1, ..., WL, bL)`` whose hidden
    layers are batch-normalised: ``bn`` holds gamma, beta per hidden layer, ``running`` the
    running mean and variance read at prediction. Indexing, ``weights`` and ``biases`` see the
    weights only."""

    def __new__(
        cls,
        arrays: Iterable[np.ndarray],
        bn: BatchNorm | None = None,
        running: RunningStats | None = None,
    ) -> BatchNormNetwork:
        self = super().__new__(cls, arrays)
        if bn is not None:  # unpickling passes the arrays alone, then restores the attributes
            if bn.units != self.sizes[1:-1] or bn.dtype != self.dtype:
                raise ValueError(
                    f"bn must normalise hidden layers {self.sizes[1:-1]} in "
                    f"{self.dtype}, got {bn.units} in {bn.dtype}"
                )
            self.bn, self.running = bn, running
        return self

    @property
    def network(self) -> Network:
        """The weights alone (the same arrays)."""
        return Network(tuple(self))

    def copy(self) -> BatchNormNetwork:
        return BatchNormNetwork(
            (np.array(p, copy=True) for p in self), self.bn.copy(), self.running.copy()
        )

    def astype(self, dtype: np.typing.DTypeLike) -> BatchNormNetwork:
        def cast(arrays):
            return tuple(np.ascontiguousarray(a, dtype=dtype) for a in arrays)

        running = RunningStats(cast(self.running.mean), cast(self.running.var))
        return BatchNormNetwork(cast(self), BatchNorm(cast(self.bn)), running)

    def bn_arrays(self) -> tuple[np.ndarray, ...]:
        """gamma, beta, running mean, running variance of each hidden layer (:func:`bn_keys`)."""
        bn, running = self.bn, self.running
        per_layer = zip(bn.gammas, bn.betas, running.mean, running.var, strict=True)
        return tuple(a for arrays in per_layer for a in arrays)

    def all_arrays(self) -> tuple[np.ndarray, ...]:
        """Weights, then gamma/beta, then running means and variances."""
        return (*self, *self.bn, *self.running.mean, *self.running.var)

    def __repr__(self) -> str:
        return f"BatchNormNetwork(sizes={self.sizes}, dtype={self.dtype})"


def bn_keys(depth: int) -> tuple[str, ...]:
    """``gamma1, beta1, running_mean1, running_var1, ...`` for ``depth`` hidden layers."""
    return tuple(f"{kind}{layer}" for layer in range(1, depth + 1) for kind in BN_KINDS)


def with_batch_norm(weights: Params | Network, arrays: tuple) -> BatchNormNetwork:
    """``weights`` with the batch-norm ``arrays`` in :meth:`BatchNormNetwork.bn_arrays` order,
    checked: one value per hidden unit in the weights' dtype, finite, variances >= 0."""
    network = Network(tuple(weights))
    if len(arrays) != 4 * network.depth:
        raise ValueError(f"expected {4 * network.depth} batch-norm arrays, got {len(arrays)}")
    for name, a in zip(bn_keys(network.depth), arrays, strict=True):
        units = network.sizes[int("".join(c for c in name if c.isdigit()))]
        if not isinstance(a, np.ndarray) or a.shape != (units,) or a.dtype != network.dtype:
            raise ValueError(
                f"{name} must be a {network.dtype} array of {units} values, got "
                f"{getattr(a, 'dtype', type(a).__name__)} {np.shape(a)}"
            )
        if not np.isfinite(a).all() or (name.startswith("running_var") and (a < 0).any()):
            raise ValueError(f"{name} contains NaN, Inf or (a variance) negative values")
    bn = BatchNorm(a for layer in range(network.depth) for a in arrays[4 * layer : 4 * layer + 2])
    return BatchNormNetwork(network, bn, RunningStats(tuple(arrays[2::4]), tuple(arrays[3::4])))


def regularized_weights(weights: Params | Network, batch_norm: bool) -> Network:
    """``weights`` as a layer stack (same arrays), with fresh batch norm (gamma 1, beta 0,
    running mean 0, variance 1) when asked for and not there yet."""
    if isinstance(weights, BatchNormNetwork) or not batch_norm:
        return weights if isinstance(weights, Network) else Network(tuple(weights))
    network = Network(tuple(weights))
    bn = init_batch_norm(network.sizes[1:-1], network.dtype)
    return BatchNormNetwork(network, bn, init_running_stats(bn))


def state_for(params: Params | Network) -> OptimizerState:
    """Zeroed optimizer buffers: for the weights, and for gamma/beta after them (batch norm)."""
    if isinstance(params, BatchNormNetwork):
        return init_regularized_state(params.network, params.bn)
    return init_state(params)


def folded(params: BatchNormNetwork) -> Network:
    """The prediction-mode network with each batch norm folded into the layer before it:
    ``W' = s W``, ``b' = s (b - running_mean) + beta`` with ``s = gamma / sqrt(running_var +
    eps)`` (computed in float64, cast to the weights' dtype); equal to the reference's
    prediction up to rounding."""
    arrays = list(params)
    running = params.running
    for layer, (gamma, beta) in enumerate(zip(params.bn.gammas, params.bn.betas, strict=True)):
        W, b = arrays[2 * layer], arrays[2 * layer + 1]
        s = gamma.astype(np.float64) / np.sqrt(running.var[layer].astype(np.float64) + BN_EPS)
        arrays[2 * layer] = (W * s[:, None]).astype(W.dtype)
        arrays[2 * layer + 1] = ((b - running.mean[layer].astype(np.float64)) * s + beta).astype(
            b.dtype
        )
    return Network(arrays)


def kernel_epoch_fn(
    params: Network,
    X: np.ndarray,
    y: np.ndarray,
    optimizer: OptimizerConfig,
    l2: float,
    activation: str,
    reg: Regularization,
):
    """The same epoch function on the Numba kernels
    (:class:`mnistbench.kernels.regularized.RegularizedRunner`)."""
    runner = RegularizedRunner(
        Network(tuple(params)),
        X,
        y,
        activation=activation,
        optimizer=optimizer,
        l2=l2,
        l1=reg.l1,
        dropout=reg.dropout,
        dropout_seed=reg.seed,
        batch_norm=isinstance(params, BatchNormNetwork),
        bn_momentum=reg.bn_momentum,
    )

    def epoch(params, order, batch_size, learning_rate, state, rows=None):
        bn = params.bn if isinstance(params, BatchNormNetwork) else None
        running = None if bn is None else params.running.copy()
        network, bn, loss_sum, correct = runner.run(
            Network(tuple(params)), bn, running, order, batch_size, learning_rate, state, rows
        )
        if bn is not None:
            network = BatchNormNetwork(network, bn, running)
        return network, loss_sum, correct

    return epoch


def reference_epoch_fn(
    X: np.ndarray,
    y: np.ndarray,
    optimizer: OptimizerConfig,
    l2: float,
    activation: str,
    reg: Regularization,
):
    """An epoch function on :func:`mnistbench.reference.regularized.regularized_epoch`:
    ``(params, order, batch_size, lr, state, rows=None) -> (params, loss sum, correct)``;
    ``rows``: the data-set rows of ``order``'s entries, for the masks (augmented batches).
    Running statistics are updated in a copy, so the params passed in never change."""
    X_cache: dict[np.dtype, np.ndarray] = {}

    def epoch(params, order, batch_size, learning_rate, state, rows=None):
        dtype = params[0].dtype
        if dtype not in X_cache:
            X_cache.clear()
            X_cache[dtype] = as_float(X, dtype)
        bn = params.bn if isinstance(params, BatchNormNetwork) else None
        running = None if bn is None else params.running.copy()
        network, bn, loss_sum, correct = regularized_epoch(
            Network(tuple(params)),
            X_cache[dtype],
            y,
            order,
            batch_size,
            learning_rate,
            state,
            optimizer,
            l2,
            activation,
            l1=reg.l1,
            dropout=reg.dropout,
            dropout_seed=reg.seed,
            bn=bn,
            running=running,
            bn_momentum=reg.bn_momentum,
            mask_rows=rows,
        )
        if bn is not None:
            network = BatchNormNetwork(network, bn, running)
        return network, loss_sum, correct

    return epoch
