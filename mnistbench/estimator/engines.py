"""Engines: where the estimator's arithmetic runs, chosen once by name from :data:`ENGINES`.

An engine gives the estimator everything that touches the weights: initial weights, an epoch
function for the shared loop (:func:`mnistbench.reference.training.fit`), the full-batch loss
gradient that drives L-BFGS, and class probabilities. Arrays arrive already checked by the
estimator (X: ``(m, n_in)`` C-contiguous, uint8 pixels or floats in the weights' dtype; y:
``(m,)`` int64 codes in ``0..n_out-1``), so nothing here checks them again.

Weights are always a :class:`~mnistbench.reference.network.Network`, any depth and any of the
reference's activations; the activation is bound once: ``ENGINES[name].bind(activation)``. The
Numba engine decides in one function, :func:`seed_layout`, whether a network runs on the seed's
fused kernels (one hidden ReLU layer of at most :data:`SEED_KERNEL_MAX_HIDDEN` units, viewed as
the seed's ``Params``) or on the layer-stack GEMM kernels. Dropout, L1 and batch norm (a
:class:`~mnistbench.estimator._regularizing.Regularization`) always train a layer stack; their
epoch functions carry a :class:`~mnistbench.estimator._state.ModelState` (the weights with the
batch norm beside them).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mnistbench.kernels import model as kernel_model
from mnistbench.kernels import network as kernel_network
from mnistbench.kernels import parallel
from mnistbench.kernels.augment import augment_batch
from mnistbench.kernels.training import EpochRunner
from mnistbench.reference import augment as ref_augment
from mnistbench.reference import network as ref_network
from mnistbench.reference import regularized as ref_regularized
from mnistbench.reference.augment import AugmentConfig
from mnistbench.reference.model import Params
from mnistbench.reference.network import Network, init_network
from mnistbench.reference.optim import OptimizerConfig
from mnistbench.reference.outputs import output_loss, output_name
from mnistbench.reference.training import EpochFn, as_float

from ._regularizing import Regularization, kernel_epoch_fn, reference_epoch_fn
from ._state import BatchNormState

__all__ = ["ENGINES", "SEED_KERNEL_MAX_HIDDEN", "Engine", "seed_layout"]

# One hidden ReLU layer up to this width trains on the fused seed kernels (one pass over each
# batch, no GEMM); wider or deeper stacks on the layer-stack kernels (measured: docs/kernels.md).
SEED_KERNEL_MAX_HIDDEN = 32


def seed_layout(network: Network, activation: str, layer_stack: bool = False) -> Params | None:
    """Return ``network`` as the seed's ``Params`` where the fused seed kernels run it, else None.

    The seed kernels run one hidden ReLU layer of at most :data:`SEED_KERNEL_MAX_HIDDEN` units
    (the same arrays, viewed as ``Params(W1, b1, W2, b2)``) unless ``layer_stack``; every other
    network runs on the layer-stack kernels. The Numba engine's one decision between the two.

    Parameters
    ----------
    network : Network
        The weights ``(W1, b1, ..., WL, bL)``.
    activation : str
        The hidden layers' activation, in the reference's names.
    layer_stack : bool, default=False
        Run the layer-stack kernels whatever the shape: a network trained with dropout, L1 or
        batch norm keeps to them, in training, L-BFGS and prediction alike.

    Returns
    -------
    Params or None
        The same arrays as the seed's type, or None for the layer-stack kernels.

    Examples
    --------
    >>> from mnistbench.reference.network import init_network
    >>> type(seed_layout(init_network((784, 10, 10)), "relu")).__name__
    'Params'
    >>> seed_layout(init_network((784, 64, 10)), "relu") is None
    True
    """
    sizes = network.sizes
    narrow_relu = len(sizes) == 3 and activation == "relu" and sizes[1] <= SEED_KERNEL_MAX_HIDDEN
    return Params(*network) if narrow_relu and not layer_stack else None


class Engine(Protocol):
    """What the estimator needs from an engine (see the module docstring for the inputs)."""

    name: str
    activation: str
    layer_stack: bool
    output: str  # "softmax" (one label per row) or "logistic" (multilabel indicator targets)

    def check_architecture(self, hidden: tuple[int, ...], activation: str) -> None:
        """Raise ``ValueError`` naming what this engine cannot run."""

    def bind(
        self, activation: str, *, layer_stack: bool = False, output: str = "softmax"
    ) -> Engine:
        """Return this engine for networks whose hidden layers use ``activation``.

        With ``layer_stack``, on the layer-stack kernels only (:func:`seed_layout`);
        ``output="logistic"``: multilabel, y an (m, n_out) 0/1 int64 indicator
        (:mod:`mnistbench.reference.outputs`).
        """

    def init(
        self, sizes: tuple[int, ...], activation: str, init: str | None, seed: int, dtype: np.dtype
    ) -> Network:
        """Return fresh weights for layer widths ``(n_in, h1, ..., n_out)``."""

    def epoch_fn(
        self, network: Network, X: np.ndarray, y: np.ndarray, optimizer: OptimizerConfig, l2: float
    ) -> EpochFn:
        """Return one epoch on (X, y), updating the optimizer state in place.

        ``(network, order, batch_size, lr, state) -> (network, loss sum, correct)``.
        """

    def regularized_epoch_fn(
        self,
        network: Network,
        X: np.ndarray,
        y: np.ndarray,
        optimizer: OptimizerConfig,
        l2: float,
        regularization: Regularization,
    ) -> EpochFn:
        """Return :meth:`epoch_fn` with dropout, L1 and batch norm, on a ``ModelState``.

        It also takes ``rows=``, the data-set rows of ``order``'s entries that the dropout masks are
        drawn for (default: ``order`` itself).
        """

    def gradients(
        self, network: Network, X: np.ndarray, y: np.ndarray, l2: float
    ) -> tuple[Network, float]:
        """Return full-batch gradients and loss.

        (Gradients of mean cross-entropy + ``0.5 * l2 * |W|^2``, mean cross-entropy without
        the L2 term).
        """

    def predict_proba(
        self, network: Network, X: np.ndarray, batch_norm: BatchNormState | None = None
    ) -> np.ndarray:
        """Return class probabilities ``(m, n_out)`` in the weights' dtype."""

    def step_threads(self, network: Network, batch_size: int, threads: int) -> int:
        """Return how many of ``threads`` a training step on ``batch_size`` rows keeps busy."""

    def augment(
        self,
        X: np.ndarray,
        rows: np.ndarray,
        config: AugmentConfig,
        seed: int,
        epoch: int,
        out: np.ndarray,
    ) -> None:
        """Set ``out`` (n, 784) to the images ``X[rows]`` augmented as in ``epoch``.

        One pure function of seed, epoch and row (:mod:`mnistbench.reference.augment`).
        """


class _Engine:
    """Architecture checks, initial weights and the activation binding both engines share."""

    name = ""

    def __init__(
        self, activation: str = "relu", *, layer_stack: bool = False, output: str = "softmax"
    ) -> None:
        self.activation, self.layer_stack = activation, layer_stack
        self.output = output_name(output)

    def bind(self, activation: str, *, layer_stack: bool = False, output: str = "softmax"):
        return type(self)(activation, layer_stack=layer_stack, output=output)

    def _softmax_only(self, what: str) -> None:
        if self.output != "softmax":
            raise ValueError(f"{what} does not train multilabel (logistic output) targets")

    def check_architecture(self, hidden: tuple[int, ...], activation: str) -> None:
        if activation not in ref_network.ACTIVATIONS:
            raise ValueError(
                f"engine {self.name!r} runs the activations {ref_network.ACTIVATIONS}, "
                f"not {activation!r}"
            )

    def init(self, sizes, activation, init, seed, dtype) -> Network:
        return init_network(sizes, activation=activation, init=init, seed=seed, dtype=dtype)

    def step_threads(self, network, batch_size, threads) -> int:
        return threads  # the layer-stack kernels spin at barriers: never share their threads


class NumbaEngine(_Engine):
    """The Numba kernels (:mod:`mnistbench.kernels`): fused seed kernels or layer-stack GEMMs."""

    name = "numba"

    def _seed_layout(self, network: Network) -> Params | None:
        layer_stack = self.layer_stack or self.output != "softmax"  # seed kernels: softmax
        return seed_layout(network, self.activation, layer_stack)

    def epoch_fn(self, network, X, y, optimizer, l2):
        params = self._seed_layout(network)
        if params is None:
            runner = kernel_network.NetworkRunner(
                network,
                X,
                y,
                activation=self.activation,
                optimizer=optimizer,
                l2=l2,
                output=self.output,
            )
            return runner.run
        seed_runner = EpochRunner.from_checked(params, X, y, optimizer, l2)

        def epoch(network, order, batch_size, learning_rate, state):
            params = Params(*network)  # the same arrays, updated in place
            _, loss_sum, correct = seed_runner.run(params, order, batch_size, learning_rate, state)
            return network, loss_sum, correct

        return epoch

    def regularized_epoch_fn(self, network, X, y, optimizer, l2, regularization):
        self._softmax_only("dropout, l1 or batch_norm")
        return kernel_epoch_fn(network, X, y, optimizer, l2, self.activation, regularization)

    def gradients(self, network, X, y, l2):
        params = self._seed_layout(network)
        if params is not None:
            grads, loss, _ = kernel_model.fused_gradients(params, X, y, l2)
            return Network(grads), loss
        activation, output = self.activation, self.output
        fwd = kernel_network.forward(network, X, activation, output)
        grads = kernel_network.backward(network, fwd, X, y, activation, l2, output)
        return grads, output_loss(fwd.Z[-1], y, output)

    def predict_proba(self, network, X, batch_norm=None):
        if batch_norm is not None:
            network = batch_norm.folded(network)
        params = self._seed_layout(network)
        if params is None:
            return kernel_network.predict_proba(network, X, self.activation, self.output)
        return kernel_model.predict_proba(X, params)

    def step_threads(self, network, batch_size, threads):
        params = self._seed_layout(network)
        if params is None:
            return threads
        # The seed kernels split a batch only when it is big enough.
        return parallel.chunk_count(batch_size, params.hidden, threads)

    def augment(self, X, rows, config, seed, epoch, out):
        augment_batch(X, rows, seed=seed, epoch=epoch, config=config, out=out)


class NumpyEngine(_Engine):
    """The NumPy reference (:mod:`mnistbench.reference`), for comparison.

    Its layer stack computes the seed network's arrays exactly for one hidden ReLU layer, so it
    needs no seed path of its own.
    """

    name = "numpy"

    def epoch_fn(self, network, X, y, optimizer, l2):
        X_float, activation, output = as_float(X, network.dtype), self.activation, self.output

        def epoch(network, order, batch_size, learning_rate, state):
            return ref_network.network_epoch(
                network,
                X_float,
                y,
                order,
                batch_size,
                learning_rate,
                state,
                optimizer,
                l2,
                activation,
                output,
            )

        return epoch

    def regularized_epoch_fn(self, network, X, y, optimizer, l2, regularization):
        self._softmax_only("dropout, l1 or batch_norm")
        return reference_epoch_fn(X, y, optimizer, l2, self.activation, regularization)

    def gradients(self, network, X, y, l2):
        X_float, output = as_float(X, network.dtype), self.output
        fwd = ref_network.forward(network, X_float, self.activation, output)
        grads = ref_network.backward(network, fwd, X_float, y, self.activation, l2, output)
        return grads, output_loss(fwd.Z[-1], y, output)

    def predict_proba(self, network, X, batch_norm=None):
        X_float = as_float(X, network.dtype)
        if batch_norm is None:
            return ref_network.predict_proba(network, X_float, self.activation, self.output)
        return ref_regularized.predict_proba(
            network, X_float, self.activation, bn=batch_norm.bn, running=batch_norm.running
        )

    def augment(self, X, rows, config, seed, epoch, out):
        out[...] = ref_augment.augment_batch(X, rows, config, seed=seed, epoch=epoch)


ENGINES: dict[str, Engine] = {"numba": NumbaEngine(), "numpy": NumpyEngine()}
