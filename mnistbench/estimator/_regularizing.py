"""Dropout, L1 and batch norm in the estimator's training: settings, weights, reference epochs.

The estimator's ``dropout`` (one rate, or one per hidden layer), ``l1`` and ``batch_norm``/
``bn_momentum`` become one :class:`Regularization`. A network trained with any of them runs on
the layer-stack kernels (never the seed's fused ones); with batch norm its
:class:`~mnistbench.estimator._state.ModelState` carries a ``BatchNormState`` (learnable scale
and shift, running statistics) beside the weights, so the shared loop, early stopping,
``partial_fit`` and model files move them along with the weights. The optimizer state covers
``(*network, *bn)`` (:func:`state_for`). Dropout masks are drawn at (``random_state``'s seed,
optimizer step before the update, hidden layer, data-set row, unit) by
:mod:`mnistbench.reference.dropout` or its Numba twin, identically on both engines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np

from mnistbench.kernels.regularized import RegularizedRunner
from mnistbench.reference.network import Network
from mnistbench.reference.optim import OptimizerConfig, OptimizerState, init_state
from mnistbench.reference.regularized import init_regularized_state, regularized_epoch
from mnistbench.reference.training import EpochFn, as_float

from ._sklearn_compat import InvalidParameterError
from ._state import BatchNormState, ModelState

if TYPE_CHECKING:
    from ._classifier import MLPClassifier

__all__ = [
    "Regularization",
    "kernel_epoch_fn",
    "reference_epoch_fn",
    "regularization_for",
    "state_for",
]


@dataclass(frozen=True)
class Regularization:
    """What a regularised epoch needs besides L2.

    ``dropout``: one rate per hidden layer; ``l1``: the coefficient of ``l1 * sum |W|``
    (weights only); ``seed``: the dropout masks' seed.
    """

    l1: float = 0.0
    dropout: tuple[float, ...] = ()
    batch_norm: bool = False
    bn_momentum: float = 0.1
    seed: int = 0

    @property
    def has_dropout(self) -> bool:
        return any(rate > 0 for rate in self.dropout)


def _rates(dropout: Any, depth: int) -> tuple[float, ...]:
    """Return one rate per hidden layer from the estimator's ``dropout``.

    Raises InvalidParameterError (a ValueError) naming the value otherwise.
    """
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
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= float(value) < 1:
            raise InvalidParameterError(
                f"The 'dropout' parameter of MLPClassifier must be a rate in [0, 1) or a sequence "
                f"of such rates. Got {dropout!r} instead."
            )
        rates.append(float(value))
    return tuple(rates)


def regularization_for(est: MLPClassifier, depth: int, seed: int) -> Regularization | None:
    """Return the estimator's dropout, l1 and batch norm for ``depth`` hidden layers.

    None when all are off; checked before anything trains.
    """
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


def state_for(model: ModelState) -> OptimizerState:
    """Zeroed optimizer buffers: for the weights, and for gamma/beta after them (batch norm)."""
    if model.batch_norm is None:
        return init_state(model.network)
    return init_regularized_state(model.network, model.batch_norm.bn)


def kernel_epoch_fn(
    network: Network,
    X: np.ndarray,
    y: np.ndarray,
    optimizer: OptimizerConfig,
    l2: float,
    activation: str,
    reg: Regularization,
) -> EpochFn:
    """Return :func:`reference_epoch_fn`'s epoch function on the Numba kernels.

    It runs :class:`mnistbench.kernels.regularized.RegularizedRunner`.
    """
    runner = RegularizedRunner(
        network,
        X,
        y,
        activation=activation,
        optimizer=optimizer,
        l2=l2,
        l1=reg.l1,
        dropout=reg.dropout,
        dropout_seed=reg.seed,
        batch_norm=reg.batch_norm,
        bn_momentum=reg.bn_momentum,
    )

    def epoch(model, order, batch_size, learning_rate, state, rows=None):
        bn, running = _batch_norm_of(model)
        network, bn, loss_sum, correct = runner.run(
            model.network, bn, running, order, batch_size, learning_rate, state, rows
        )
        return _trained(network, bn, running), loss_sum, correct

    return epoch


def _batch_norm_of(model: ModelState) -> tuple:
    """(bn, a copy of the running statistics) to train from, or (None, None)."""
    if model.batch_norm is None:
        return None, None
    return model.batch_norm.bn, model.batch_norm.running.copy()


def _trained(network: Network, bn: Any, running: Any) -> ModelState:
    return ModelState(network, None if bn is None else BatchNormState(bn, running))


def reference_epoch_fn(
    X: np.ndarray,
    y: np.ndarray,
    optimizer: OptimizerConfig,
    l2: float,
    activation: str,
    reg: Regularization,
) -> EpochFn:
    """Return an epoch function on :func:`mnistbench.reference.regularized.regularized_epoch`.

    ``(model, order, batch_size, lr, state, rows=None) -> (model, loss sum, correct)``;
    ``rows``: the data-set rows of ``order``'s entries, for the masks (augmented batches).
    Running statistics are updated in a copy, so the model passed in never changes.
    """
    X_cache: dict[np.dtype, np.ndarray] = {}

    def epoch(model, order, batch_size, learning_rate, state, rows=None):
        dtype = model.dtype
        if dtype not in X_cache:
            X_cache.clear()
            X_cache[dtype] = as_float(X, dtype)
        bn, running = _batch_norm_of(model)
        network, bn, loss_sum, correct = regularized_epoch(
            model.network,
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
        return _trained(network, bn, running), loss_sum, correct

    return epoch
