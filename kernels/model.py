"""Public wrappers around the Numba kernels with the reference's names and signatures.

``forward_prop``, ``backward_prop``, ``update_params``, ``make_predictions`` ... take and return
what :mod:`mnistbench.reference.model` does, so a test can parametrize over both modules. Every
input is checked by :mod:`mnistbench.kernels.checks` before a kernel runs.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from mnistbench.reference.model import Activations, Params, get_accuracy, get_predictions

from . import _jit_seed, parallel
from .checks import check_l2, check_labels, check_params, check_positive_float, check_X, scale_for

__all__ = [
    "Workspace",
    "backward_prop",
    "forward_prop",
    "fused_gradients",
    "fused_step",
    "get_accuracy",
    "get_predictions",
    "make_predictions",
    "predict_proba",
    "update_params",
]


class Workspace:
    """Per-thread gradient accumulators and the gradient output, allocated once per run."""

    def __init__(self, params: Params, n_threads: int | None = None) -> None:
        n_threads = numba.get_num_threads() if n_threads is None else n_threads
        self.acc = Params(*(np.zeros((n_threads, *p.shape), p.dtype) for p in params))
        self.grads = Params(*(np.zeros_like(p) for p in params))


def _validate(params: Any, X: Any) -> tuple[Params, np.ndarray]:
    params = check_params(params)
    return params, check_X(X, params.n_in, params.dtype)


def _validate_labeled(params: Any, X: Any, Y: Any) -> tuple[Params, np.ndarray, np.ndarray]:
    params, X = _validate(params, X)
    return params, X, check_labels(Y, X.shape[0], params.W2.shape[0])


def forward_prop(params: Params, X: np.ndarray) -> Activations:
    """X: (m, n_in) uint8 or float -> Z1, A1 (m, hidden), Z2, A2 (m, n_out) in params' dtype.

    The Numba twin of :func:`mnistbench.reference.model.forward_prop`, with its arguments.

    Parameters
    ----------
    params : Params
        The seed network's weights, float32 or float64.
    X : numpy.ndarray
        (m, n_in) uint8 pixels (scaled by 1/255 inside the kernel) or floats.

    Returns
    -------
    Activations
        ``Z1``, ``A1`` (m, hidden), ``Z2``, ``A2`` (m, n_out), in the params' dtype.

    Examples
    --------
    >>> from mnistbench import reference
    >>> params = reference.init_params(hidden=10, seed=0)
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 784), dtype=np.uint8)
    >>> fast = forward_prop(params, X)
    >>> slow = reference.forward_prop(params, X / 255.0)
    >>> bool(np.allclose(fast.A2, slow.A2, atol=1e-12))
    True
    """
    params, X = _validate(params, X)
    m, dtype = X.shape[0], params.dtype
    acts = Activations(
        np.empty((m, params.hidden), dtype),
        np.empty((m, params.hidden), dtype),
        np.empty((m, params.W2.shape[0]), dtype),
        np.empty((m, params.W2.shape[0]), dtype),
    )
    parallel.forward(params, X, scale_for(X, dtype), acts)
    return acts


def backward_prop(
    params: Params, acts: Activations, X: np.ndarray, Y: np.ndarray, l2: float = 0.0
) -> Params:
    """Gradients of the mean cross-entropy (+ L2 on weights) from stored activations."""
    params, X, Y = _validate_labeled(params, X, Y)
    m, hidden, n_out = X.shape[0], params.hidden, params.W2.shape[0]
    expected = ((m, hidden), (m, hidden), (m, n_out), (m, n_out))
    acts = Activations(*(np.ascontiguousarray(a, dtype=params.dtype) for a in acts))
    if tuple(a.shape for a in acts) != expected:
        raise ValueError(f"activations must have shapes {expected}, got {[a.shape for a in acts]}")
    if l2 != 0:
        l2 = check_l2(l2)
    work = Workspace(params)
    _jit_seed.backward(
        params.W2,
        X,
        Y,
        scale_for(X, params.dtype),
        acts.Z1,
        acts.A1,
        acts.A2,
        *work.acc,
        *work.grads,
    )
    grads = work.grads
    if l2:
        grads = Params(
            grads.W1 + params.dtype.type(l2) * params.W1,
            grads.b1,
            grads.W2 + params.dtype.type(l2) * params.W2,
            grads.b2,
        )
    return grads


def update_params(params: Params, grads: Params, alpha: float) -> Params:
    """Gradient-descent step ``p - alpha * g``; returns new arrays."""
    params = check_params(params)
    grads = check_params(grads)
    if [g.shape for g in grads] != [p.shape for p in params] or grads.dtype != params.dtype:
        raise ValueError("grads must have the same shapes and dtype as params")
    return _sgd(params, grads, check_positive_float(alpha, "alpha"))


def _sgd(params: Params, grads: Params, learning_rate: float) -> Params:
    lr = params.dtype.type(learning_rate)
    return Params(*(p - lr * g for p, g in zip(params, grads, strict=True)))


def predict_proba(X: np.ndarray, params: Params) -> np.ndarray:
    """Class probabilities (m, n_out) for the rows of X."""
    return forward_prop(params, X).A2


def make_predictions(X: np.ndarray, params: Params) -> np.ndarray:
    """Predicted labels for the rows of X (the seed's argument order)."""
    return get_predictions(predict_proba(X, params))


def fused_gradients(
    params: Params, X: np.ndarray, Y: np.ndarray, l2: float = 0.0
) -> tuple[Params, float, float]:
    """One fused parallel pass over X: (mean gradients, mean loss, accuracy before the update)."""
    params, X, Y = _validate_labeled(params, X, Y)
    l2 = check_l2(l2)
    work = Workspace(params)
    m = X.shape[0]
    rows = np.arange(m, dtype=np.int64)
    n_chunks = parallel.chunk_count(m, params.hidden, work.acc.W1.shape[0])
    loss_sum, correct = parallel.accumulate(
        params, X, Y, rows, scale_for(X, params.dtype), work.acc, n_chunks
    )
    unused_state = work.grads  # NO_UPDATE never touches optimizer state
    _jit_seed.finish_batch(
        *params,
        m,
        n_chunks,
        l2,
        0.0,
        _jit_seed.NO_UPDATE,
        0.0,
        0.0,
        0.0,
        1.0,
        0,
        unused_state,
        unused_state,
        *work.acc,
        *work.grads,
    )
    return work.grads, loss_sum / X.shape[0], correct / X.shape[0]


def fused_step(
    params: Params, X: np.ndarray, Y: np.ndarray, learning_rate: float
) -> tuple[Params, float]:
    """One full-batch gradient-descent step in a single fused pass over X.

    Returns (new params, loss before the step); the input params are left untouched.
    """
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    grads, loss_value, _ = fused_gradients(params, X, Y)
    return _sgd(check_params(params), grads, learning_rate), loss_value
