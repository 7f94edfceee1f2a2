"""The bench's variant registry that tests, pytest-benchmark, asv and ``mnistbench bench`` read.

A variant is a factory: given params, data and labels it validates and prepares everything once
and returns a step function, so what gets timed is the step alone.

* ``FULL_BATCH[name](params, X, Y) -> step(params, learning_rate) -> (new params, loss)``
* ``MINIBATCH[name](params, X, Y) -> epoch(params, order, batch_size, learning_rate)
  -> (new params, mean loss)`` (plain SGD; both engines visit the same batches)

X may be uint8 pixels (each engine divides by 255: the reference converts once up front, the Numba
kernels fold the scale in) or floats; the compute dtype is the params' dtype.

:data:`BASELINES` are timed but not validated: ``notebook`` is the seed notebook's own code (its
per-network bias gradient and all), there so that speedups can be quoted against what a user
starts from. :func:`check_against_reference` only checks that a baseline's step runs and stays
finite; every other variant must agree with the reference, within
:mod:`mnistbench.reference.tolerances`.

Our Numba variants are ``numba_unfused`` (full batch: separate forward and backward kernels with
stored activations) and ``numba_fused`` (one fused pass per batch, full batch and mini-batch).
Before 0.2.0 the unfused full-batch step and the mini-batch epoch were both called ``numba``,
which is also the estimator's engine name (``MLPClassifier(engine="numba")``);
:data:`mnistbench.bench.compare.RENAMED` maps the old names, so ``mnistbench bench --compare``
still reads results written before.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from mnistbench.kernels import _jit_seed, parallel
from mnistbench.kernels.checks import check_labels, check_order, check_params, check_X, scale_for
from mnistbench.kernels.model import Workspace
from mnistbench.kernels.training import EpochRunner
from mnistbench.reference import model as ref
from mnistbench.reference import training as ref_train
from mnistbench.reference.model import Params
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.tolerances import TOL, TRAJECTORY_TOL

from .. import jax_engine, torch_engine
from ..baselines import notebook

__all__ = [
    "BASELINES",
    "DTYPES_OF_VARIANT",
    "ENGINE_OF_VARIANT",
    "FULL_BATCH",
    "MINIBATCH",
    "OWN_PROCESS",
    "TOL",
    "TRAJECTORY_TOL",
    "check_against_reference",
    "check_epoch_against_reference",
    "system_of",
]

CHECK_ROWS = 2000

FullBatchStep = Callable[[Params, float], tuple[Params, float]]
MinibatchEpoch = Callable[[Params, np.ndarray, int, float], tuple[Params, float]]


def _notebook_full_batch(params: Params, X: np.ndarray, Y: np.ndarray) -> FullBatchStep:
    """The notebook's functions on samples as columns.

    X.T is (n_in, m), Fortran-ordered like the notebook's ``X_train``; biases travel as (units, 1)
    columns. float64 only, as the notebook.

    The loss returned is the notebook's softmax output read at the labels, ``-mean(log A2[Y])``
    (the notebook computes none; this is the cheapest one, a gather of m values).
    """
    params = check_params(params)
    if params.dtype != np.float64:
        raise ValueError(f"the notebook baseline runs float64 only, got {params.dtype}")
    X = check_X(X, params.n_in, params.dtype)
    n_out = params.W2.shape[0]
    Y = check_labels(Y, X.shape[0], n_out)
    if Y.max() + 1 != n_out:
        raise ValueError(
            f"the notebook's one_hot sizes its output by Y.max() + 1: Y must "
            f"contain class {n_out - 1}, its largest label is {Y.max()}"
        )
    XT = (X / 255.0 if X.dtype == np.uint8 else X).T
    m = X.shape[0]
    columns = np.arange(m)

    def step(params: Params, learning_rate: float) -> tuple[Params, float]:
        notebook.set_m(m)
        W1, b1, W2, b2 = params.W1, params.b1[:, None], params.W2, params.b2[:, None]
        Z1, A1, Z2, A2 = notebook.forward_prop(W1, b1, W2, b2, XT)
        dW1, db1, dW2, db2 = notebook.backward_prop(Z1, A1, Z2, A2, W1, W2, XT, Y)
        W1, b1, W2, b2 = notebook.update_params(W1, b1, W2, b2, dW1, db1, dW2, db2, learning_rate)
        return Params(W1, b1.ravel(), W2, b2.ravel()), -float(np.mean(np.log(A2[Y, columns])))

    return step


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
        _jit_seed.backward(
            params.W2, X, Y, scale, acts.Z1, acts.A1, acts.A2, *work.acc, *work.grads
        )
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
    "notebook": _notebook_full_batch,  # first: the report's first row
    "reference": _reference_full_batch,
    "numba_unfused": _numba_full_batch,
    "numba_fused": _numba_fused_full_batch,
}
MINIBATCH: dict[str, Callable[[Params, np.ndarray, np.ndarray], MinibatchEpoch]] = {
    "reference": _reference_minibatch,
    "numba_fused": _numba_minibatch,
}
ENGINE_OF_VARIANT = {
    "notebook": "numpy",
    "reference": "numpy",
    "numba_unfused": "numba",
    "numba_fused": "numba",
}
BASELINES = frozenset({"notebook"})  # timed and reported, never validated against the reference
# compute dtypes a variant runs (the notebook is float64 code; the torch engines run float32)
DTYPES_OF_VARIANT: dict[str, tuple[str, ...]] = {
    name: ("float64", "float32") for name in ENGINE_OF_VARIANT
}
DTYPES_OF_VARIANT["notebook"] = ("float64",)

if torch_engine.available():  # comparison engines, registered only where PyTorch is installed
    FULL_BATCH["torch"] = torch_engine.full_batch
    FULL_BATCH["torch_autograd"] = partial(torch_engine.full_batch, autograd=True)
    FULL_BATCH["torch_compile"] = partial(torch_engine.full_batch, compiled=True)
    MINIBATCH["torch"] = torch_engine.minibatch
    MINIBATCH["torch_compile"] = partial(torch_engine.minibatch, compiled=True)
    ENGINE_OF_VARIANT.update(torch="torch", torch_autograd="torch", torch_compile="torch")
    DTYPES_OF_VARIANT.update(
        torch=("float32",), torch_autograd=("float32",), torch_compile=("float32",)
    )
if jax_engine.available():  # the jitted JAX loop, where JAX and optax are installed
    FULL_BATCH["jax"] = jax_engine.full_batch
    MINIBATCH["jax"] = jax_engine.minibatch
    ENGINE_OF_VARIANT["jax"] = "jax"
    DTYPES_OF_VARIANT["jax"] = jax_engine.DTYPES

OWN_PROCESS = frozenset({"notebook", "torch_compile"})  # not in their engine's process


def system_of(variant: str) -> str:
    """The process ``variant`` is timed in (``mnistbench bench`` gives every system its own).

    Its engine's, except the notebook baseline and the compiled PyTorch step, which get their own
    (the notebook is not our reference; ``torch.compile`` changes how torch runs).
    """
    return variant if variant in OWN_PROCESS else ENGINE_OF_VARIANT[variant]


def check_against_reference(variant: str, params: Params, X: np.ndarray, Y: np.ndarray) -> None:
    """Refuse to time ``variant`` when its full-batch step differs from the reference's.

    One step on the first 2,000 rows of X is compared (new params and loss); beyond :data:`TOL` it
    raises ``RuntimeError``.

    X: uint8 pixels or floats in [0, 1]; the reference gets them as floats in the params' dtype.
    A baseline (:data:`BASELINES`) is not compared: its step, on all rows (the notebook sizes its
    one-hot by the largest label), must only run and stay finite.
    """
    dtype = np.dtype(params.dtype)
    rows = slice(0, min(len(Y), CHECK_ROWS))
    a: Any  # a weight array or the loss (mixed lists, which mypy reads as list[object])
    b: Any
    if variant in BASELINES:  # on every row: the notebook needs every class present
        got, got_loss = FULL_BATCH[variant](params, X, Y)(params, 0.1)
        for name, a, b in zip(
            [*Params._fields, "loss"], [*got, got_loss], [*params, 0.0], strict=True
        ):
            if np.shape(a) != np.shape(b) or not np.all(np.isfinite(a)):
                raise RuntimeError(
                    f"refusing to time baseline {variant} ({dtype}): its step "
                    f"gives a non-finite or misshapen {name}"
                )
        return
    X_ref = ref_train.as_float(X[rows], dtype)
    want, want_loss = FULL_BATCH["reference"](params, X_ref, Y[rows])(params, 0.1)
    got, got_loss = FULL_BATCH[variant](params, X[rows], Y[rows])(params, 0.1)
    atol, rtol = TOL[dtype]
    for name, a, b in zip(
        [*Params._fields, "loss"], [*got, got_loss], [*want, want_loss], strict=True
    ):
        if not np.allclose(a, b, atol=atol, rtol=rtol):
            worst = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            raise RuntimeError(
                f"refusing to time {variant} ({dtype}): {name} differs from the reference "
                f"by up to {worst:.3g} (tolerance atol {atol:g} + rtol {rtol:g})"
            )


def check_epoch_against_reference(
    variant: str, params: Params, X: np.ndarray, Y: np.ndarray, order: np.ndarray
) -> None:
    """Refuse to time mini-batch ``variant`` when its epoch differs from the reference's.

    The epoch is over the first 2,000 entries of ``order`` (batch 128, SGD 0.01), compared to
    :data:`TRAJECTORY_TOL`.
    """
    dtype = np.dtype(params.dtype)
    head = order[:CHECK_ROWS]
    want = MINIBATCH["reference"](params, ref_train.as_float(X, dtype), Y)(params, head, 128, 0.01)
    got = MINIBATCH[variant](params, X, Y)(params, head, 128, 0.01)
    atol, rtol = TRAJECTORY_TOL[dtype]
    a: Any  # a weight array or the loss (mixed lists, which mypy reads as list[object])
    b: Any
    for name, a, b in zip(
        [*Params._fields, "loss"], [*got[0], got[1]], [*want[0], want[1]], strict=True
    ):
        if not np.allclose(a, b, atol=atol, rtol=rtol):
            raise RuntimeError(
                f"refusing to time {variant} ({dtype}): its epoch's {name} "
                "differs from the reference"
            )
