"""The variant registry that tests, pytest-benchmark, asv and ``mnistbench bench`` all read.

A variant is a factory: given params, data and labels it validates and prepares everything once
and returns a step function, so what gets timed is the step alone.

* ``FULL_BATCH[name](params, X, Y) -> step(params, learning_rate) -> (new params, loss)``
* ``MINIBATCH[name](params, X, Y) -> epoch(params, order, batch_size, learning_rate)
  -> (new params, mean loss)`` (plain SGD; both engines visit the same batches)

X may be uint8 pixels (each engine divides by 255: the reference converts once up front, the Numba
kernels fold the scale in) or floats; the compute dtype is the params' dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from mnistbench.reference import model as ref
from mnistbench.reference import training as ref_train
from mnistbench.reference.model import Params
from mnistbench.reference.optim import OptimizerConfig, init_state

from . import _jit, parallel, torch_engine
from .api import Workspace, check_labels, check_order, check_params, check_X, scale_for
from .training import EpochRunner

FullBatchStep = Callable[[Params, float], tuple[Params, float]]
MinibatchEpoch = Callable[[Params, np.ndarray, int, float], tuple[Params, float]]


def _reference_full_batch(params: Params, X: np.ndarray, Y: np.ndarray) -> FullBatchStep:
    params = check_params(params)
    X = ref_train.as_float(check_X(X, params.n_in, params.dtype), params.dtype)
    Y = check_labels(Y, X.shape[0], params.W2.shape[0])

    def step(params: Params, learning_rate: float) -> tuple[Params, float]:
        acts = ref.forward_prop(params, X)
        grads = ref.backward_prop(params, acts, X, Y)
        return ref.update_params(params, grads, learning_rate), ref.loss(acts.Z2, Y)

    return step


def _numba_full_batch(params: Params, X: np.ndarray, Y: np.ndarray) -> FullBatchStep:
    """Separate forward and backward kernels with stored activations (the unfused baseline)."""
    params = check_params(params)
    X = check_X(X, params.n_in, params.dtype)
    Y = check_labels(Y, X.shape[0], params.W2.shape[0])
    m, dtype, scale = X.shape[0], params.dtype, scale_for(X, params.dtype)
    n_out = params.W2.shape[0]
    acts = ref.Activations(
        *(np.empty((m, units), dtype) for units in (params.hidden, params.hidden, n_out, n_out))
    )
    work = Workspace(params)

    def step(params: Params, learning_rate: float) -> tuple[Params, float]:
        parallel.forward(params, X, scale, acts)
        _jit.backward(params.W2, X, Y, scale, acts.Z1, acts.A1, acts.A2, *work.acc, *work.grads)
        lr = dtype.type(learning_rate)
        new = Params(*(p - lr * g for p, g in zip(params, work.grads, strict=True)))
        return new, ref.loss(acts.Z2, Y)

    return step


def _numba_fused_full_batch(params: Params, X: np.ndarray, Y: np.ndarray) -> FullBatchStep:
    """Forward, loss, backward and the per-thread gradient reduction in one pass over X."""
    runner = EpochRunner(params, X, Y)
    m = runner.X.shape[0]
    order = np.arange(m, dtype=np.int64)
    state = init_state(check_params(params))

    def step(params: Params, learning_rate: float) -> tuple[Params, float]:
        params = params.copy()
        _, loss_sum, _ = runner.run(params, order, m, learning_rate, state)
        return params, loss_sum / m

    return step


def _reference_minibatch(params: Params, X: np.ndarray, Y: np.ndarray) -> MinibatchEpoch:
    params = check_params(params)
    X = ref_train.as_float(check_X(X, params.n_in, params.dtype), params.dtype)
    Y = check_labels(Y, X.shape[0], params.W2.shape[0])
    sgd = OptimizerConfig("sgd")

    def epoch(params, order, batch_size, learning_rate):
        params, loss_sum, _ = ref_train.minibatch_epoch(
            params, X, Y, order, batch_size, learning_rate, init_state(params), sgd
        )
        return params, loss_sum / len(order)

    return epoch


def _numba_minibatch(params: Params, X: np.ndarray, Y: np.ndarray) -> MinibatchEpoch:
    runner = EpochRunner(params, X, Y)
    state = init_state(check_params(params))

    def epoch(params, order, batch_size, learning_rate):
        order, batch_size = check_order(order, runner.X.shape[0], batch_size)
        params = check_params(params).copy()
        _, loss_sum, _ = runner.run(params, order, batch_size, learning_rate, state)
        return params, loss_sum / len(order)

    return epoch


FULL_BATCH: dict[str, Callable[[Params, np.ndarray, np.ndarray], FullBatchStep]] = {
    "reference": _reference_full_batch,
    "numba": _numba_full_batch,
    "numba_fused": _numba_fused_full_batch,
}
MINIBATCH: dict[str, Callable[[Params, np.ndarray, np.ndarray], MinibatchEpoch]] = {
    "reference": _reference_minibatch,
    "numba": _numba_minibatch,
}
ENGINE = {"reference": "numpy", "numba": "numba", "numba_fused": "numba"}

if torch_engine.available():  # comparison engines, registered only where PyTorch is installed
    FULL_BATCH["torch"] = torch_engine.full_batch
    FULL_BATCH["torch_autograd"] = partial(torch_engine.full_batch, autograd=True)
    MINIBATCH["torch"] = torch_engine.minibatch
    ENGINE.update(torch="torch", torch_autograd="torch")
