"""The layer stack of :mod:`.network` with dropout, L1 and batch normalisation, in NumPy.

With every option off (no masks, ``l1=0``, ``bn=None``) each function here computes what its
namesake in :mod:`.network` does, with the same operations. A hidden layer ``l`` (0-based) runs

    Z = A_prev @ W.T + b -> H = BN(Z) (or H = Z) -> F = activation(H) -> A = F * mask

and the last layer softmax. Options:

* dropout (inverted): ``mask`` is 0 or ``1 / (1 - rate)`` per (row, unit), drawn by
  :func:`.dropout.dropout_mask` from (seed, step, layer, row) with ``step`` the optimizer's step
  count before the update and ``row`` the data-set row (entry of ``order``); none at prediction;
* L1: ``l1 * sum |W|`` over weights (not biases) with subgradient ``l1 * sign(W)`` (0 at 0),
  beside L2's ``0.5 * l2 * sum W^2``;
* batch norm (:mod:`.batchnorm`): batch statistics in training, running ones at prediction;
  its learnable gamma, beta are a separate :class:`.batchnorm.BatchNorm`. One optimizer state
  covers ``(*network, *bn)`` in that order (:func:`init_regularized_state`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from . import batchnorm
from .batchnorm import BatchNorm, BatchStats, RunningStats, check_batch_norm, check_momentum
from .dropout import check_counter, dropout_mask, dropout_rates
from .model import get_predictions, one_hot, softmax
from .model import loss as cross_entropy
from .network import (
    Network,
    _check_activation,
    _check_batch,
    _check_labels,
    _positive_int,
    activate,
    activation_grad,
)
from .optim import OptimizerConfig, OptimizerState, init_state, optimizer_step

Masks = Sequence[np.ndarray | None]


class RegForward(NamedTuple):
    """Every intermediate of a forward pass, per layer, each ``(m, units)``.

    Z: ``A_prev @ W.T + b`` (``Z[-1]`` the logits); H: what the activation reads (BN output, or
    Z); F: activation of H; A: F times the dropout mask (``A[-1]`` the softmax); masks: the mask
    or None per hidden layer; stats: :class:`.batchnorm.BatchStats` or None per hidden layer.
    """

    Z: tuple[np.ndarray, ...]
    H: tuple[np.ndarray, ...]
    F: tuple[np.ndarray, ...]
    A: tuple[np.ndarray, ...]
    masks: tuple[np.ndarray | None, ...]
    stats: tuple[BatchStats | None, ...]


def check_penalty(value: object, name: str) -> float:
    """An L1 or L2 coefficient as a finite float >= 0; TypeError/ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0, got {value!r}")
    coefficient = float(value)
    if not (math.isfinite(coefficient) and coefficient >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return coefficient


def _check_masks(masks: Masks | None, network: Network, m: int) -> tuple:
    depth = network.depth
    if masks is None:
        return (None,) * depth
    if len(masks) != depth:
        raise ValueError(f"masks must give one entry per hidden layer ({depth}), got {len(masks)}")
    for layer, (mask, units) in enumerate(zip(masks, network.sizes[1:-1], strict=True)):
        if mask is not None and (
            not isinstance(mask, np.ndarray)
            or mask.shape != (m, units)
            or mask.dtype != network.dtype
        ):
            raise ValueError(
                f"mask of hidden layer {layer + 1} must be a {network.dtype} array of shape "
                f"{(m, units)}, got {getattr(mask, 'dtype', type(mask).__name__)} "
                f"{np.shape(mask)}"
            )
    return tuple(masks)


def _check_bn(bn: BatchNorm | None, network: Network) -> None:
    if bn is not None:
        check_batch_norm(bn, network.sizes[1:-1], network.dtype)


def forward_train(
    network: Network,
    X: np.ndarray,
    activation: str = "relu",
    *,
    bn: BatchNorm | None = None,
    masks: Masks | None = None,
) -> RegForward:
    """Training-mode forward of X (m, n_in): BN with batch statistics, the given dropout masks.

    The masks: one per hidden layer, each ``(m, units)`` in the network's dtype or None.
    """
    _check_batch(network, X)
    _check_activation(activation)
    _check_bn(bn, network)
    masks = _check_masks(masks, network, X.shape[0])
    return _forward(network, X, activation, bn, masks, None)


def forward_eval(
    network: Network,
    X: np.ndarray,
    activation: str = "relu",
    *,
    bn: BatchNorm | None = None,
    running: RunningStats | None = None,
) -> RegForward:
    """Prediction-mode forward: no dropout, BN with the running statistics."""
    _check_batch(network, X)
    _check_activation(activation)
    _check_bn(bn, network)
    if bn is not None:
        batchnorm.check_running_stats(running, bn)
    return _forward(network, X, activation, bn, (None,) * network.depth, running)


def _forward(network, X, activation, bn, masks, running) -> RegForward:
    Zs, Hs, Fs, As, stats = [], [], [], [], []
    A = X
    last = len(network) // 2 - 1
    for layer, (W, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        Z = A @ W.T + b
        H, layer_stats = Z, None
        if layer == last:
            F = A = softmax(Z)
        else:
            if bn is not None and running is None:
                H, layer_stats = batchnorm.forward_train(Z, bn[2 * layer], bn[2 * layer + 1])
            elif bn is not None:
                H = batchnorm.forward_eval(
                    Z, bn[2 * layer], bn[2 * layer + 1], running.mean[layer], running.var[layer]
                )
            F = A = activate(activation, H)
            if masks[layer] is not None:
                A = F * masks[layer]
        Zs.append(Z)
        Hs.append(H)
        Fs.append(F)
        As.append(A)
        stats.append(layer_stats)
    return RegForward(tuple(Zs), tuple(Hs), tuple(Fs), tuple(As), tuple(masks), tuple(stats[:-1]))


def penalty(network: Network, l1: float = 0.0, l2: float = 0.0) -> float:
    """``l1 * sum |W| + 0.5 * l2 * sum W^2`` over the weights; biases are not penalised."""
    total = 0.0
    if l1:
        total += l1 * float(sum(np.sum(np.abs(W)) for W in network.weights))
    if l2:
        total += 0.5 * l2 * float(sum(np.sum(W * W) for W in network.weights))
    return total


def loss(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    activation: str = "relu",
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    bn: BatchNorm | None = None,
    masks: Masks | None = None,
) -> float:
    """Training-mode mean cross-entropy (BN batch statistics, given masks) plus the penalties.

    The function :func:`backward` differentiates.
    """
    fwd = forward_train(network, X, activation, bn=bn, masks=masks)
    Y = _check_labels(Y, X.shape[0], network.n_out)
    l1, l2 = check_penalty(l1, "l1"), check_penalty(l2, "l2")
    return cross_entropy(fwd.Z[-1], Y) + penalty(network, l1, l2)


def backward(
    network: Network,
    fwd: RegForward,
    X: np.ndarray,
    Y: np.ndarray,
    activation: str = "relu",
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    bn: BatchNorm | None = None,
) -> tuple[Network, BatchNorm | None]:
    """Gradients of :func:`loss` from a :func:`forward_train` pass.

    Returns (network grads, BatchNorm grads or None). Weight grads are means over rows plus
    ``l1 * sign(W) + l2 * W``; bias grads of batch-norm layers are exactly 0.
    """
    _check_batch(network, X)
    _check_activation(activation)
    _check_bn(bn, network)
    Y = _check_labels(Y, X.shape[0], network.n_out)
    l1, l2 = check_penalty(l1, "l1"), check_penalty(l2, "l2")
    if bn is not None and any(s is None for s in fwd.stats):
        raise ValueError("backward with batch norm needs a forward_train pass with the same bn")
    dtype = network.dtype
    inv_m = dtype.type(1.0 / X.shape[0])
    grads: list[np.ndarray] = [None] * len(network)  # type: ignore[list-item]
    bn_grads: list[np.ndarray] = [None] * (0 if bn is None else len(bn))  # type: ignore[list-item]
    dZ = fwd.A[-1] - one_hot(Y, network.n_out, dtype)
    for layer in reversed(range(len(network) // 2)):
        W = network[2 * layer]
        A_prev = X if layer == 0 else fwd.A[layer - 1]
        dW = inv_m * (dZ.T @ A_prev)
        if l1:
            dW = dW + dtype.type(l1) * np.sign(W)
        if l2:
            dW = dW + dtype.type(l2) * W
        grads[2 * layer] = dW
        grads[2 * layer + 1] = inv_m * dZ.sum(axis=0)
        if layer == 0:
            continue
        hidden = layer - 1
        dA = dZ @ W
        if fwd.masks[hidden] is not None:
            dA = dA * fwd.masks[hidden]
        dZ = dA * activation_grad(activation, fwd.H[hidden], fwd.F[hidden])
        if bn is not None:
            stats = fwd.stats[hidden]
            assert stats is not None  # forward_train with bn keeps every hidden layer's
            dZ, dgamma, dbeta = batchnorm.backward(dZ, bn[2 * hidden], stats)
            bn_grads[2 * hidden], bn_grads[2 * hidden + 1] = inv_m * dgamma, inv_m * dbeta
    if bn is not None:
        for hidden in range(network.depth):
            grads[2 * hidden + 1] = np.zeros_like(grads[2 * hidden + 1])
    return Network(grads), None if bn is None else BatchNorm(bn_grads)


def predict_proba(
    network: Network,
    X: np.ndarray,
    activation: str = "relu",
    *,
    bn: BatchNorm | None = None,
    running: RunningStats | None = None,
) -> np.ndarray:
    """X: (m, n_in) -> class probabilities (m, n_out) in prediction mode."""
    return forward_eval(network, X, activation, bn=bn, running=running).A[-1]


def predict(
    network: Network,
    X: np.ndarray,
    activation: str = "relu",
    *,
    bn: BatchNorm | None = None,
    running: RunningStats | None = None,
) -> np.ndarray:
    """X: (m, n_in) -> most probable class per row, (m,) int64, in prediction mode."""
    return get_predictions(predict_proba(network, X, activation, bn=bn, running=running))


def batch_masks(
    network: Network, rates: tuple[float, ...], seed: int, step: int, rows: np.ndarray
) -> tuple[np.ndarray | None, ...]:
    """The dropout masks of one batch: per hidden layer ``(len(rows), units)`` or None (rate 0)."""
    return tuple(
        None if rate == 0 else dropout_mask(rate, seed, step, layer, rows, units, network.dtype)
        for layer, (rate, units) in enumerate(zip(rates, network.sizes[1:-1], strict=True))
    )


def init_regularized_state(network: Network, bn: BatchNorm | None = None) -> OptimizerState:
    """Zeroed optimizer buffers for ``network`` or, with batch norm, for ``(*network, *bn)``."""
    return init_state(network if bn is None else tuple(network) + tuple(bn))


def regularized_epoch(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    learning_rate: float,
    state: OptimizerState,
    optimizer: OptimizerConfig,
    l2: float = 0.0,
    activation: str = "relu",
    *,
    l1: float = 0.0,
    dropout: float | Sequence[float] = 0.0,
    dropout_seed: int = 0,
    bn: BatchNorm | None = None,
    running: RunningStats | None = None,
    bn_momentum: float = batchnorm.DEFAULT_MOMENTUM,
    mask_rows: np.ndarray | None = None,
) -> tuple[Network, BatchNorm | None, float, int]:
    """:func:`.network.network_epoch` with dropout, L1 and batch norm.

    Each batch: masks for (dropout_seed, state.t, layer, order rows), training forward, its
    cross-entropy (no penalties) and correct count summed, running statistics updated in place
    (``bn_momentum``), gradients, one optimizer step on ``(*network, *bn)``. Returns (new network,
    new bn or None, loss summed over samples, correct predictions). ``mask_rows`` (same length
    as ``order``): the data-set rows the masks are drawn for in place of ``order``'s entries,
    for X that holds copies of the rows (augmented batches).
    """
    _check_batch(network, X)
    _check_activation(activation)
    batch_size = _positive_int(batch_size, "batch_size")
    l1, l2 = check_penalty(l1, "l1"), check_penalty(l2, "l2")
    rates = dropout_rates(dropout, network.depth)
    dropout_seed = check_counter(dropout_seed, "dropout_seed")
    bn_momentum = check_momentum(bn_momentum)
    _check_bn(bn, network)
    if bn is not None:
        batchnorm.check_running_stats(running, bn)
    if mask_rows is None:
        mask_rows = order
    elif np.shape(mask_rows) != np.shape(order):
        raise ValueError(
            f"mask_rows must have order's shape {np.shape(order)}, got {np.shape(mask_rows)}"
        )
    n_params = len(network) + (0 if bn is None else len(bn))
    if len(state.first) != n_params:
        raise ValueError(
            f"state must hold {n_params} buffers (network then bn), got {len(state.first)}; "
            "see init_regularized_state"
        )
    loss_sum = 0.0
    correct = 0
    whole = batch_size >= order.size == X.shape[0] and np.array_equal(order, np.arange(order.size))
    for start in range(0, order.size, batch_size):
        rows = order[start : start + batch_size]
        Xb, Yb = (X, Y) if whole else (X[rows], Y[rows])
        masks = batch_masks(
            network, rates, dropout_seed, state.t, mask_rows[start : start + batch_size]
        )
        fwd = forward_train(network, Xb, activation, bn=bn, masks=masks)
        loss_sum += cross_entropy(fwd.Z[-1], Yb) * rows.size
        correct += int(np.sum(get_predictions(fwd.A[-1]) == Yb))
        if bn is not None:
            assert running is not None  # checked with bn above
            for hidden, stats in enumerate(fwd.stats):
                assert stats is not None
                batchnorm.update_running(
                    running.mean[hidden], running.var[hidden], stats, rows.size, bn_momentum
                )
        grads, bn_grads = backward(network, fwd, Xb, Yb, activation, l1=l1, l2=l2, bn=bn)
        if bn is None:
            network = optimizer_step(network, grads, state, learning_rate, optimizer)
        else:
            assert bn_grads is not None  # backward gives bn's gradients when given bn
            new = optimizer_step(
                tuple(network) + tuple(bn),
                tuple(grads) + tuple(bn_grads),
                state,
                learning_rate,
                optimizer,
            )
            network, bn = Network(new[: len(network)]), BatchNorm(new[len(network) :])
    return network, bn, loss_sum, correct
