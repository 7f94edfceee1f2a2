"""Engines: where the estimator's arithmetic runs, chosen once by name from :data:`ENGINES`.

An engine gives the estimator everything that touches the weights: initial weights, an epoch
function for the shared loop (:func:`mnistbench.reference.training.fit`), the full-batch loss
gradient that drives L-BFGS, and class probabilities. Arrays arrive already checked by the
estimator (X: ``(m, n_in)`` C-contiguous, uint8 pixels or floats in the weights' dtype; y:
``(m,)`` int64 codes in ``0..n_out-1``), so nothing here checks them again.

Both engines run any layer stack with any of the reference's activations. Weights are the
seed's ``Params`` for one narrow hidden ReLU layer (:func:`uses_seed_kernels`: the Numba engine
runs the fused seed kernels on them, the NumPy engine ``reference.model``) and a
``reference.network.Network`` otherwise (the layer-stack GEMM kernels, ``reference.network``).
The activation is bound once: ``ENGINES[name].bind(activation)``. Dropout, L1 and batch norm
(a :class:`mnistbench._regularizing.Regularization` handed to ``epoch_fn``) always train a
layer stack; batch-normalised weights are a :class:`mnistbench._regularizing.BatchNormNetwork`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mnistbench.kernels import network as kernel_network
from mnistbench.kernels import parallel
from mnistbench.kernels.augment import augment_batch
from mnistbench.kernels.checks import scale_for
from mnistbench.kernels.model import fused_gradients
from mnistbench.kernels.training import EpochRunner
from mnistbench.reference import augment as ref_augment
from mnistbench.reference import model as ref
from mnistbench.reference import network as ref_network
from mnistbench.reference import regularized as ref_regularized
from mnistbench.reference.augment import AugmentConfig
from mnistbench.reference.model import Activations, Params
from mnistbench.reference.network import Network, init_network
from mnistbench.reference.optim import OptimizerConfig
from mnistbench.reference.training import EpochFn, as_float, minibatch_epoch

from ._regularizing import (
    BatchNormNetwork,
    Regularization,
    folded,
    kernel_epoch_fn,
    reference_epoch_fn,
)

__all__ = ["ENGINES", "Engine"]


class Engine(Protocol):
    """What the estimator needs from an engine (see the module docstring for the inputs)."""

    def check_architecture(self, hidden: tuple[int, ...], activation: str) -> None:
        """Raise ``ValueError`` naming what this engine cannot run."""

    def bind(self, activation: str) -> Engine:
        """This engine for networks whose hidden layers use ``activation``."""

    def init(
        self, sizes: tuple[int, ...], activation: str, init: str, seed: int, dtype: np.dtype
    ) -> Params:
        """Fresh weights for layer widths ``(n_in, h1, ..., n_out)``."""

    def epoch_fn(
        self,
        params: Params,
        X: np.ndarray,
        y: np.ndarray,
        optimizer: OptimizerConfig,
        l2: float,
        regularization: Regularization | None = None,
    ) -> EpochFn:
        """One epoch on (X, y): ``(params, order, batch_size, lr, state) -> (params, loss
        sum, correct)``, updating the optimizer state. With ``regularization`` (a layer stack
        only) it also takes ``rows=``, the data-set rows of ``order``'s entries that the
        dropout masks are drawn for (default: ``order`` itself)."""

    def gradients(
        self, params: Params, X: np.ndarray, y: np.ndarray, l2: float
    ) -> tuple[Params, float]:
        """Full-batch (gradients of mean cross-entropy + ``0.5 * l2 * |W|^2``, mean
        cross-entropy without the L2 term)."""

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(m, n_out)`` in the weights' dtype."""

    def augment(
        self,
        X: np.ndarray,
        rows: np.ndarray,
        config: AugmentConfig,
        seed: int,
        epoch: int,
        out: np.ndarray,
    ) -> None:
        """``out`` (n, 784) <- images ``X[rows]`` augmented as in ``epoch`` (one pure function
        of seed, epoch and row, :mod:`mnistbench.reference.augment`)."""


# One hidden ReLU layer up to this width trains on the fused seed kernels (one pass over each
# batch, no GEMM); wider or deeper stacks on the layer-stack kernels. Measured per epoch at
# batch 32/128, f32, 2 threads: the seed kernels win at hidden 10 (29 vs 68 ms per 20k rows at
# batch 32) and 32, the two are even at 64, and the GEMM kernels pull ahead beyond.
SEED_KERNEL_MAX_HIDDEN = 32


def uses_seed_kernels(sizes: tuple[int, ...], activation: str) -> bool:
    """True for the seed's shape: one hidden ReLU layer of at most 32 units."""
    return len(sizes) == 3 and activation == "relu" and sizes[1] <= SEED_KERNEL_MAX_HIDDEN


def weights_for(
    weights: Params | Network, activation: str, layer_stack: bool = False
) -> Params | Network:
    """``weights`` as the type the engines dispatch on: ``Params`` for the seed's shape
    (:func:`uses_seed_kernels`) unless ``layer_stack`` (dropout, L1, batch norm), else
    ``Network`` (same arrays either way; a BatchNormNetwork stays one)."""
    if isinstance(weights, BatchNormNetwork):
        return weights
    sizes = (weights[0].shape[1], *(W.shape[0] for W in weights[0::2]))
    if not layer_stack and uses_seed_kernels(sizes, activation):
        return Params(*weights)
    return Network(tuple(weights))


class _Engine:
    """Architecture checks, initial weights and the activation binding both engines share."""

    name = ""

    def __init__(self, activation: str = "relu") -> None:
        self.activation = activation

    def bind(self, activation: str) -> _Engine:
        return type(self)(activation)

    def check_architecture(self, hidden: tuple[int, ...], activation: str) -> None:
        if activation not in ref_network.ACTIVATIONS:
            raise ValueError(
                f"engine {self.name!r} runs the activations {ref_network.ACTIVATIONS}, "
                f"not {activation!r}"
            )

    def init(
        self, sizes: tuple[int, ...], activation: str, init: str, seed: int, dtype: np.dtype
    ) -> Params | Network:
        network = init_network(sizes, activation=activation, init=init, seed=seed, dtype=dtype)
        return weights_for(network, activation)


class NumbaEngine(_Engine):
    """The Numba kernels (:mod:`mnistbench.kernels`): fused seed kernels or layer-stack GEMMs."""

    name = "numba"

    def epoch_fn(self, params, X, y, optimizer, l2, regularization=None):
        if regularization is not None:
            return kernel_epoch_fn(params, X, y, optimizer, l2, self.activation, regularization)
        if isinstance(params, Params):
            return EpochRunner._trusted(params, X, y, optimizer, l2).run
        runner = kernel_network.NetworkRunner(
            params, X, y, activation=self.activation, optimizer=optimizer, l2=l2
        )
        return runner.run

    def gradients(self, params, X, y, l2):
        if isinstance(params, Params):
            grads, loss, _ = fused_gradients(params, X, y, l2)
            return grads, loss
        fwd = kernel_network.forward(params, X, self.activation)
        grads = kernel_network.backward(params, fwd, X, y, self.activation, l2)
        return grads, ref.loss(fwd.Z[-1], y)

    def predict_proba(self, params, X):
        if isinstance(params, BatchNormNetwork):
            params = folded(params)
        if not isinstance(params, Params):
            return kernel_network.predict_proba(params, X, self.activation)
        m, hidden, n_out, dtype = X.shape[0], params.hidden, params.W2.shape[0], params.dtype
        acts = Activations(
            np.empty((m, hidden), dtype),
            np.empty((m, hidden), dtype),
            np.empty((m, n_out), dtype),
            np.empty((m, n_out), dtype),
        )
        parallel.forward(params, X, scale_for(X, dtype), acts)
        return acts.A2

    def augment(self, X, rows, config, seed, epoch, out):
        augment_batch(X, rows, seed=seed, epoch=epoch, config=config, out=out)


class NumpyEngine(_Engine):
    """The NumPy reference (:mod:`mnistbench.reference`), for comparison."""

    name = "numpy"

    def epoch_fn(self, params, X, y, optimizer, l2, regularization=None):
        if regularization is not None:
            return reference_epoch_fn(X, y, optimizer, l2, self.activation, regularization)
        X_float = as_float(X, params.dtype)
        activation = self.activation

        def epoch(params, order, batch_size, learning_rate, state):
            if isinstance(params, Params):
                return minibatch_epoch(
                    params, X_float, y, order, batch_size, learning_rate, state, optimizer, l2
                )
            return ref_network.network_epoch(
                params,
                X_float,
                y,
                order,
                batch_size,
                learning_rate,
                state,
                optimizer,
                l2,
                activation,
            )

        return epoch

    def gradients(self, params, X, y, l2):
        X_float = as_float(X, params.dtype)
        if isinstance(params, Params):
            acts = ref.forward_prop(params, X_float)
            return ref.backward_prop(params, acts, X_float, y, l2), ref.loss(acts.Z2, y)
        fwd = ref_network.forward(params, X_float, self.activation)
        grads = ref_network.backward(params, fwd, X_float, y, self.activation, l2)
        return grads, ref.loss(fwd.Z[-1], y)

    def predict_proba(self, params, X):
        X_float = as_float(X, params.dtype)
        if isinstance(params, Params):
            return ref.forward_prop(params, X_float).A2
        if isinstance(params, BatchNormNetwork):
            return ref_regularized.predict_proba(
                params.network, X_float, self.activation, bn=params.bn, running=params.running
            )
        return ref_network.predict_proba(params, X_float, self.activation)

    def augment(self, X, rows, config, seed, epoch, out):
        out[...] = ref_augment.augment_batch(X, rows, config, seed=seed, epoch=epoch)


ENGINES: dict[str, Engine] = {"numba": NumbaEngine(), "numpy": NumpyEngine()}
