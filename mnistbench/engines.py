"""Engines: where the estimator's arithmetic runs, chosen once by name from :data:`ENGINES`.

An engine gives the estimator everything that touches the weights: initial weights, an epoch
function for the shared loop (:func:`mnistbench.reference.training.fit`), the full-batch loss
gradient that drives L-BFGS, and class probabilities. Arrays arrive already checked by the
estimator (X: ``(m, n_in)`` C-contiguous, uint8 pixels or floats in the weights' dtype; y:
``(m,)`` int64 codes in ``0..n_out-1``), so nothing here checks them again.

Both engines run one hidden ReLU layer today (the seed network's kernels and its NumPy
reference). A layer-stack engine plugs in as one more entry of :data:`ENGINES` whose
``check_architecture`` accepts deeper stacks and other activations.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from mnistbench.kernels import parallel
from mnistbench.kernels.augment import augment_batch
from mnistbench.kernels.checks import scale_for
from mnistbench.kernels.model import fused_gradients
from mnistbench.kernels.training import EpochRunner
from mnistbench.reference import augment as ref_augment
from mnistbench.reference import model as ref
from mnistbench.reference.augment import AugmentConfig
from mnistbench.reference.model import Activations, Params
from mnistbench.reference.network import init_network
from mnistbench.reference.optim import OptimizerConfig
from mnistbench.reference.training import EpochFn, as_float, minibatch_epoch

__all__ = ["ENGINES", "Engine"]


class Engine(Protocol):
    """What the estimator needs from an engine (see the module docstring for the inputs)."""

    def check_architecture(self, hidden: tuple[int, ...], activation: str) -> None:
        """Raise ``ValueError`` naming what this engine cannot run."""

    def init(
        self, sizes: tuple[int, ...], activation: str, init: str, seed: int, dtype: np.dtype
    ) -> Params:
        """Fresh weights for layer widths ``(n_in, h1, ..., n_out)``."""

    def epoch_fn(
        self, params: Params, X: np.ndarray, y: np.ndarray, optimizer: OptimizerConfig, l2: float
    ) -> EpochFn:
        """One epoch on (X, y): ``(params, order, batch_size, lr, state) -> (params, loss
        sum, correct)``, updating the optimizer state."""

    def gradients(
        self, params: Params, X: np.ndarray, y: np.ndarray, l2: float
    ) -> tuple[Params, float]:
        """Full-batch (gradients of mean cross-entropy + ``0.5 * l2 * |W|^2``, mean
        cross-entropy without the L2 term)."""

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(m, n_out)`` in the weights' dtype."""

    def augment(
        self, X: np.ndarray, rows: np.ndarray, config: AugmentConfig, seed: int, epoch: int,
        out: np.ndarray,
    ) -> None:  # fmt: skip
        """``out`` (n, 784) <- images ``X[rows]`` augmented as in ``epoch`` (one pure function
        of seed, epoch and row, :mod:`mnistbench.reference.augment`)."""


class _OneHiddenReLU:
    """The seed network's shape: one hidden ReLU layer, any input and output widths."""

    name = ""

    def check_architecture(self, hidden: tuple[int, ...], activation: str) -> None:
        if len(hidden) != 1 or activation != "relu":
            raise ValueError(
                f"engine {self.name!r} runs one hidden ReLU layer; hidden_layer_sizes="
                f"{hidden!r} with activation={activation!r} arrives with the layer-stack kernels"
            )

    def init(
        self, sizes: tuple[int, ...], activation: str, init: str, seed: int, dtype: np.dtype
    ) -> Params:
        network = init_network(sizes, activation=activation, init=init, seed=seed, dtype=dtype)
        return network.to_params()


class NumbaEngine(_OneHiddenReLU):
    """The fused Numba kernels (:mod:`mnistbench.kernels`)."""

    name = "numba"

    def epoch_fn(self, params, X, y, optimizer, l2):
        return EpochRunner._trusted(params, X, y, optimizer, l2).run

    def gradients(self, params, X, y, l2):
        grads, loss, _ = fused_gradients(params, X, y, l2)
        return grads, loss

    def predict_proba(self, params, X):
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


class NumpyEngine(_OneHiddenReLU):
    """The NumPy reference (:mod:`mnistbench.reference`), for comparison."""

    name = "numpy"

    def epoch_fn(self, params, X, y, optimizer, l2):
        X_float = as_float(X, params.dtype)

        def epoch(params, order, batch_size, learning_rate, state):
            return minibatch_epoch(
                params, X_float, y, order, batch_size, learning_rate, state, optimizer, l2
            )

        return epoch

    def gradients(self, params, X, y, l2):
        X_float = as_float(X, params.dtype)
        acts = ref.forward_prop(params, X_float)
        return ref.backward_prop(params, acts, X_float, y, l2), ref.loss(acts.Z2, y)

    def predict_proba(self, params, X):
        return ref.forward_prop(params, as_float(X, params.dtype)).A2

    def augment(self, X, rows, config, seed, epoch, out):
        out[...] = ref_augment.augment_batch(X, rows, config, seed=seed, epoch=epoch)


ENGINES: dict[str, Engine] = {"numba": NumbaEngine(), "numpy": NumpyEngine()}
