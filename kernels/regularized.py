"""Dropout, L1 and batch norm on the layer-stack Numba kernels.

The twin of :func:`mnistbench.reference.regularized.regularized_epoch`, with its name and signature.

One epoch runs as one njit call per thread (``_jit_network.network_job``): dropout masks are
hashed in the forward epilogue from (dropout_seed, optimizer step before the update, hidden
layer, data-set row, unit), bit-identical to the reference's masks; L1's ``l1 * sign(W)`` joins
L2 in the optimizer's row step; batch norm normalises each hidden layer's pre-activations with
the batch's statistics (one barrier per hidden layer forward, one backward) and moves the
running statistics in place. Prediction with batch norm is an affine map per unit that folds
into the weights (``mnistbench.estimator.BatchNormState.folded``): it needs no kernel of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mnistbench.reference.batchnorm import (
    BatchNorm,
    RunningStats,
    check_batch_norm,
    check_momentum,
    check_running_stats,
)
from mnistbench.reference.dropout import check_counter, dropout_rates, keep_scale
from mnistbench.reference.network import Network
from mnistbench.reference.optim import OptimizerConfig, OptimizerState
from mnistbench.reference.regularized import check_penalty

from . import _jit_network as _k
from ._network_plumbing import (
    Layout,
    Regularization,
    Workspace,
    check_activation,
    check_network,
    kernel_data,
    launch,
    optimizer,
)
from .checks import check_labels, check_order, check_positive_float, check_X

__all__ = ["RegularizedRunner", "regularized_epoch"]


class RegularizedRunner:
    """Validated data and options, bound once; :meth:`run` trains one epoch.

    ``run`` is the kernels' :func:`regularized_epoch`. ``batch_norm``: whether ``run`` receives a
    BatchNorm.
    """

    def __init__(
        self,
        network: Network,
        X: Any,
        Y: Any,
        *,
        activation: str = "relu",
        optimizer: OptimizerConfig | None = None,
        l2: float = 0.0,
        l1: float = 0.0,
        dropout: float | Sequence[float] = 0.0,
        dropout_seed: int = 0,
        batch_norm: bool = False,
        bn_momentum: float = 0.1,
    ) -> None:
        network = check_network(network)
        self.code = check_activation(activation)
        self.X = check_X(X, network.n_in, network.dtype)
        self.Y = check_labels(Y, self.X.shape[0], network.n_out)
        self.optimizer = OptimizerConfig() if optimizer is None else optimizer
        if not isinstance(self.optimizer, OptimizerConfig):
            raise TypeError(f"optimizer must be an OptimizerConfig, got {type(optimizer)}")
        self.l2, self.l1 = check_penalty(l2, "l2"), check_penalty(l1, "l1")
        rates = dropout_rates(dropout, network.depth)
        self.rates = np.array(rates if any(rates) else (), np.float64)
        self.keep = np.array([float(keep_scale(r, network.dtype)) for r in self.rates])
        self.seed = np.uint64(check_counter(dropout_seed, "dropout_seed"))
        self.batch_norm = bool(batch_norm)
        self.momentum = check_momentum(bn_momentum)
        self.layout = Layout(network.sizes, network.dtype)
        hidden = np.asarray(network.sizes[1:-1], np.int64)
        starts = np.concatenate([[0], np.cumsum(2 * hidden)[:-1]]).astype(np.int64)
        self.goff = self.layout.n_params + starts if self.batch_norm else np.zeros(0, np.int64)
        self.work: Workspace | None = None

    def _check(self, network, bn, running, state) -> None:
        layout = self.layout
        shapes = tuple(np.shape(a) for a in network)
        if shapes != layout.shapes or network[0].dtype != layout.dtype:
            raise ValueError(
                f"network must keep the shapes {layout.shapes} and dtype "
                f"{layout.dtype} this runner was built for, got {shapes}"
            )
        if self.batch_norm:
            check_batch_norm(bn, tuple(int(s) for s in layout.sizes[1:-1]), layout.dtype)
            check_running_stats(running, bn)
        elif bn is not None:
            raise ValueError("this runner was built without batch_norm; got a BatchNorm")
        arrays = tuple(network) + (tuple(bn) if self.batch_norm else ())
        if not isinstance(state, OptimizerState):
            raise TypeError(f"state must be an OptimizerState, got {type(state).__name__}")
        for which in ("first", "second"):
            buffers = getattr(state, which)
            if len(buffers) != len(arrays) or any(
                not isinstance(b, np.ndarray) or b.shape != a.shape or b.dtype != a.dtype
                for b, a in zip(buffers, arrays, strict=False)
            ):
                raise ValueError(
                    f"state.{which} must match (*network, *bn): {[a.shape for a in arrays]}"
                )
        if isinstance(state.t, bool) or not isinstance(state.t, (int, np.integer)) or state.t < 0:
            raise ValueError(f"state.t must be an integer >= 0, got {state.t!r}")

    def run(
        self,
        network: Network,
        bn: BatchNorm | None,
        running: RunningStats | None,
        order: np.ndarray,
        batch_size: int,
        learning_rate: float,
        state: OptimizerState,
        mask_rows: np.ndarray | None = None,
    ) -> tuple[Network, BatchNorm | None, float, int]:
        """One epoch: (new network, new bn or None, loss sum, correct).

        The epoch runs over consecutive ``batch_size`` slices of ``order``; ``state`` (over
        ``(*network, *bn)``) and ``running`` are updated in place. ``mask_rows``: the data-set rows
        of ``order``'s entries the dropout masks are drawn for (default ``order``).
        """
        self._check(network, bn, running, state)
        order, batch_size = check_order(order, self.X.shape[0], batch_size)
        learning_rate = check_positive_float(learning_rate, "learning_rate")
        mask_rows = order if mask_rows is None else np.asarray(mask_rows)
        if mask_rows.shape != order.shape or mask_rows.dtype.kind not in "ui":
            raise ValueError(
                f"mask_rows must be {order.shape[0]} integer rows like order, got "
                f"{mask_rows.dtype} {mask_rows.shape}"
            )
        if mask_rows.size and (mask_rows.min() < 0 or mask_rows.max() > np.iinfo(np.int64).max):
            raise ValueError("mask_rows must be in 0..2**63-1")
        layout = self.layout
        rows = min(batch_size, order.shape[0])
        if self.work is None or self.work.rows < rows:
            self.work = Workspace(layout, rows, train=True, keep_z=self.batch_norm)
        extra: tuple[np.ndarray, ...] = ()
        running_stats: list[tuple[np.ndarray, np.ndarray]] = []
        if self.batch_norm:
            assert bn is not None and running is not None  # _check: both given with batch_norm
            extra = tuple(bn)
            running_stats = list(zip(running.mean, running.var, strict=True))
        params = np.concatenate([layout.flatten(network), *extra]).astype(layout.dtype)
        first, second = (
            np.concatenate(
                [layout.flatten(buffers[: len(network)]), *buffers[len(network) :]]
            ).astype(layout.dtype)
            for buffers in (state.first, state.second)
        )
        total = int(layout.cum[-1])
        means, variances = np.zeros(total, layout.dtype), np.ones(total, layout.dtype)
        if self.batch_norm:
            for layer, (mean, var) in enumerate(running_stats):
                at = int(layout.cum[layer + 1])
                means[at : at + mean.size], variances[at : at + var.size] = mean, var
        opt, work = self.optimizer, self.work
        work.scratch.stats[:] = 0
        # Neither dropout nor batch norm (e.g. L1 alone): the plain kernels' specialisation.
        reg = (
            None
            if not (self.rates.size or self.batch_norm)
            else Regularization(
                np.ascontiguousarray(mask_rows, dtype=np.int64),
                self.rates,
                self.keep,
                self.seed,
                self.goff,
                means,
                variances,
                self.momentum,
            )
        )
        data = kernel_data(self.X, self.Y, order, layout.dtype, reg)
        state.t = launch(
            work,
            _k.TRAIN,
            self.code,
            layout.net(params),
            optimizer(first, second, learning_rate, opt, state.t, self.l2, self.l1),
            data,
            batch_size,
        )
        for buffers, flat in ((state.first, first), (state.second, second)):
            for target, value in zip(buffers, self._unflatten(flat), strict=True):
                target[...] = value
        arrays = self._unflatten(params)
        new_bn = None
        if self.batch_norm:
            new_bn = BatchNorm(arrays[len(network) :])
            for layer, (mean, var) in enumerate(running_stats):
                at = int(layout.cum[layer + 1])
                mean[...], var[...] = means[at : at + mean.size], variances[at : at + var.size]
        stats = work.scratch.stats
        return (
            Network(arrays[: len(network)]),
            new_bn,
            float(stats[:, 0].sum()),
            int(stats[:, 1].sum()),
        )

    def _unflatten(self, flat: np.ndarray) -> list[np.ndarray]:
        """Network arrays, then gamma, beta per hidden layer (batch norm)."""
        layout = self.layout
        arrays = layout.unflatten(flat[: layout.n_params])
        if self.batch_norm:
            at = layout.n_params
            for units in layout.sizes[1:-1]:
                arrays += [flat[at : at + units], flat[at + units : at + 2 * units]]
                at += 2 * int(units)
        return arrays


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
    bn_momentum: float = 0.1,
    mask_rows: np.ndarray | None = None,
) -> tuple[Network, BatchNorm | None, float, int]:
    """Numba twin of ``reference.regularized.regularized_epoch`` (same arguments, same returns).

    X (m, n_in) uint8 or float. The input network and bn are untouched; ``state`` and ``running``
    are updated in place.
    """
    runner = RegularizedRunner(
        network,
        X,
        Y,
        activation=activation,
        optimizer=optimizer,
        l2=l2,
        l1=l1,
        dropout=dropout,
        dropout_seed=dropout_seed,
        batch_norm=bn is not None,
        bn_momentum=bn_momentum,
    )
    return runner.run(network, bn, running, order, batch_size, learning_rate, state, mask_rows)
