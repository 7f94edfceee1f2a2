"""The seed network (784 -> hidden ReLU -> 10 softmax) in plain vectorized NumPy.

This is the oracle every fast kernel is tested against. It keeps the seed notebook's names but
fixes its math:

* samples are rows: ``X`` is ``(m, n_in)``, activations are ``(m, units)``;
* bias gradients are per unit, the mean over samples (the notebook's ``db = 1/m * np.sum(dZ)``
  summed over every element, giving all units the same, wrong, bias gradient);
* softmax subtracts the row maximum, so logits of 1e3 do not overflow;
* the loss is cross-entropy computed with log-sum-exp, never ``log(softmax)``.

Shapes follow the notebook: ``W1 (hidden, n_in)``, ``b1 (hidden,)``, ``W2 (n_out, hidden)``,
``b2 (n_out,)``. Arithmetic happens in the parameters' dtype (float64 or float32).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

SIDE = 28  # images are SIDE x SIDE pixels
N_PIXELS = SIDE * SIDE
N_CLASSES = 10


class Params(NamedTuple):
    """Weights of the network; the same type carries their gradients."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    @property
    def hidden(self) -> int:
        """Units of the hidden layer."""
        return self.W1.shape[0]

    @property
    def n_in(self) -> int:
        """Inputs per sample (784 for MNIST)."""
        return self.W1.shape[1]

    @property
    def dtype(self) -> np.dtype:
        """The arrays' floating dtype."""
        return self.W1.dtype

    def copy(self) -> Params:
        """A deep copy: new arrays with the same values."""
        return Params(*(np.array(p, copy=True) for p in self))

    def astype(self, dtype: np.typing.DTypeLike) -> Params:
        """The same weights as C-contiguous arrays of ``dtype``."""
        return Params(*(np.ascontiguousarray(p, dtype=dtype) for p in self))


class Activations(NamedTuple):
    """Forward-pass results, each ``(m, units)``."""

    Z1: np.ndarray
    A1: np.ndarray
    Z2: np.ndarray
    A2: np.ndarray


@dataclass
class History:
    """What a training run logged: one entry per logged step (iteration or epoch)."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    dev_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def append(
        self,
        step: int,
        loss: float,
        train_accuracy: float,
        dev_accuracy: float = float("nan"),
        seconds: float = float("nan"),
    ) -> None:
        """Log one step (accuracies as fractions; NaN where not measured)."""
        self.step.append(int(step))
        self.loss.append(float(loss))
        self.train_accuracy.append(float(train_accuracy))
        self.dev_accuracy.append(float(dev_accuracy))
        self.seconds.append(float(seconds))

    def __len__(self) -> int:
        return len(self.step)


def init_params(
    hidden: int = 10,
    n_in: int = N_PIXELS,
    n_out: int = N_CLASSES,
    *,
    seed: int | np.random.Generator | None = 0,
    dtype: np.typing.DTypeLike = np.float64,
) -> Params:
    """Seed-compatible initialisation: every weight and bias uniform in [-0.5, 0.5).

    Parameters
    ----------
    hidden, n_in, n_out : int
        Units of the hidden layer, inputs (784 pixels) and classes (10).
    seed : int, numpy.random.Generator or None
        Seeds ``np.random.default_rng``; W1, b1, W2, b2 are drawn in that order.
    dtype : dtype-like
        float64 (default) or float32; the values are drawn in float64, then cast.

    Returns
    -------
    Params
        ``W1 (hidden, n_in)``, ``b1 (hidden,)``, ``W2 (n_out, hidden)``, ``b2 (n_out,)``.

    Examples
    --------
    >>> params = init_params(hidden=10, seed=0)
    >>> [p.shape for p in params]
    [(10, 784), (10,), (10, 10), (10,)]
    >>> bool(params.W1.min() >= -0.5 and params.W1.max() < 0.5)
    True
    """
    rng = np.random.default_rng(seed)

    def uniform(*shape: int) -> np.ndarray:
        return (rng.random(shape) - 0.5).astype(dtype)

    return Params(uniform(hidden, n_in), uniform(hidden), uniform(n_out, hidden), uniform(n_out))


def ReLU(Z: np.ndarray) -> np.ndarray:
    """max(Z, 0), elementwise, in Z's dtype."""
    return np.maximum(Z, 0)


def ReLU_deriv(Z: np.ndarray) -> np.ndarray:
    """1 where the unit was active, else 0, in Z's dtype."""
    return (Z > 0).astype(Z.dtype)


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, max-subtracted so that large logits cannot overflow.

    Parameters
    ----------
    Z : numpy.ndarray
        (m, n_out) logits.

    Returns
    -------
    numpy.ndarray
        (m, n_out) probabilities, each row summing to 1.

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise log of :func:`softmax`, computed as ``Z - max - log(sum(exp(Z - max)))``."""
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def one_hot(Y: np.ndarray, n_classes: int = N_CLASSES, dtype: np.typing.DTypeLike = np.float64):
    """Y: (m,) int labels -> (m, n_classes) indicator rows (samples are rows, unlike the seed)."""
    Y = np.asarray(Y)
    out = np.zeros((Y.size, n_classes), dtype=dtype)
    out[np.arange(Y.size), Y] = 1
    return out


def forward_prop(params: Params, X: np.ndarray) -> Activations:
    """X: (m, n_in) in the params' dtype -> Z1, A1 (m, hidden), Z2, A2 (m, n_out).

    Parameters
    ----------
    params : Params
        The network's weights (see :func:`init_params`).
    X : numpy.ndarray
        (m, n_in) samples as rows, in the params' dtype (pixels scaled to [0, 1]).

    Returns
    -------
    Activations
        ``Z1``, ``A1 = ReLU(Z1)`` (m, hidden), ``Z2`` (m, n_out) logits and ``A2 = softmax(Z2)``.

    Examples
    --------
    >>> params = init_params(hidden=10, seed=0)
    >>> X = np.random.default_rng(0).random((3, 784))
    >>> acts = forward_prop(params, X)
    >>> acts.A2.shape, np.allclose(acts.A2.sum(axis=1), 1.0)
    ((3, 10), True)
    """
    W1, b1, W2, b2 = params
    Z1 = X @ W1.T + b1
    A1 = ReLU(Z1)
    Z2 = A1 @ W2.T + b2
    A2 = softmax(Z2)
    return Activations(Z1, A1, Z2, A2)


def loss(Z2: np.ndarray, Y: np.ndarray) -> float:
    """Mean cross-entropy of logits Z2 (m, n_out) against int labels Y (m,), via log-sum-exp."""
    m = Z2.shape[0]
    return float(-log_softmax(Z2)[np.arange(m), Y].mean())


def l2_penalty(params: Params, l2: float) -> float:
    """0.5 * l2 * (|W1|^2 + |W2|^2); biases are not penalised."""
    if l2 == 0:
        return 0.0
    return 0.5 * l2 * float(np.sum(params.W1 * params.W1) + np.sum(params.W2 * params.W2))


def backward_prop(
    params: Params, acts: Activations, X: np.ndarray, Y: np.ndarray, l2: float = 0.0
) -> Params:
    """Gradients of the mean cross-entropy (plus the optional L2 penalty) w.r.t. each parameter.

    db1 and db2 are means over samples, per unit: the seed's ``1/m * np.sum(dZ)`` summed over
    all units as well and is not reproduced here.
    """
    m = X.shape[0]
    dtype = params.dtype
    inv_m = dtype.type(1.0 / m)
    dZ2 = acts.A2 - one_hot(Y, acts.A2.shape[1], dtype)
    dW2 = inv_m * (dZ2.T @ acts.A1)
    db2 = inv_m * dZ2.sum(axis=0)
    dZ1 = (dZ2 @ params.W2) * ReLU_deriv(acts.Z1)
    dW1 = inv_m * (dZ1.T @ X)
    db1 = inv_m * dZ1.sum(axis=0)
    if l2:
        dW1 = dW1 + dtype.type(l2) * params.W1
        dW2 = dW2 + dtype.type(l2) * params.W2
    return Params(dW1, db1, dW2, db2)


def update_params(params: Params, grads: Params, alpha: float) -> Params:
    """Plain gradient-descent step; returns new arrays, leaves ``params`` untouched."""
    a = params.dtype.type(alpha)
    return Params(*(p - a * g for p, g in zip(params, grads, strict=True)))


def get_predictions(A2: np.ndarray) -> np.ndarray:
    """Most probable class per row."""
    return np.argmax(A2, axis=1)


def get_accuracy(predictions: np.ndarray, Y: np.ndarray) -> float:
    """Fraction of ``predictions`` (m,) equal to the labels ``Y`` (m,)."""
    return float(np.mean(predictions == Y))


def make_predictions(X: np.ndarray, params: Params) -> np.ndarray:
    """Predicted labels for the rows of X (same argument order as the seed)."""
    return get_predictions(forward_prop(params, X).A2)
