"""The output layer of :mod:`.network`: softmax over classes, or independent logistic units.

* ``"softmax"`` (one label per row): targets ``Y`` are ``(m,)`` integer labels, the loss is the
  mean cross-entropy (log-sum-exp), a prediction the most probable class.
* ``"logistic"`` (multilabel, scikit-learn's ``out_activation_ = "logistic"``): targets are an
  ``(m, n_out)`` 0/1 indicator matrix, each output a sigmoid, the loss scikit-learn's binary
  log loss (summed over outputs, averaged over rows), computed from the logits as
  ``max(z, 0) - z * y + log1p(exp(-|z|))`` so it never overflows; a prediction is the
  indicator ``p > 0.5``.

For both the loss gradient with respect to the logits is ``(P - Y) / m`` (``Y`` one-hot for
softmax), so :func:`.network.backward` forms one delta for either.
"""

from __future__ import annotations

import numpy as np

from .model import get_predictions, one_hot, softmax
from .model import loss as cross_entropy

OUTPUTS = ("softmax", "logistic")


def output_name(output: str) -> str:
    """``output`` if it is one of :data:`OUTPUTS`, else ValueError."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    return output


def check_targets(Y: np.ndarray, m: int, n_out: int, output: str = "softmax") -> np.ndarray:
    """Return ``Y`` checked: (m,) labels in 0..n_out-1, or (logistic) an (m, n_out) 0/1 matrix."""
    Y = np.asarray(Y)
    if output_name(output) == "logistic":
        if Y.shape != (m, n_out) or Y.dtype.kind not in "uifb":
            raise ValueError(
                f"Y must be an ({m}, {n_out}) 0/1 indicator matrix, got {Y.dtype} of shape "
                f"{Y.shape}"
            )
        if Y.size and not np.all((Y == 0) | (Y == 1)):
            raise ValueError("Y must hold only 0 and 1 (an indicator matrix)")
        return Y
    if Y.shape != (m,) or Y.dtype.kind not in "ui":
        raise ValueError(f"Y must be {m} integer labels, got {Y.dtype} of shape {Y.shape}")
    if m and (Y.min() < 0 or Y.max() >= n_out):
        raise ValueError(f"labels must be in 0..{n_out - 1}, got {Y.min()}..{Y.max()}")
    return Y


def logistic(Z: np.ndarray) -> np.ndarray:
    """Elementwise 1 / (1 + exp(-Z)) in Z's dtype; exp of -|Z| only, so no overflow."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def probabilities(Z: np.ndarray, output: str = "softmax") -> np.ndarray:
    """Logits (m, n_out) -> the output layer's probabilities (m, n_out), in Z's dtype."""
    return logistic(Z) if output_name(output) == "logistic" else softmax(Z)


def output_loss(Z: np.ndarray, Y: np.ndarray, output: str = "softmax") -> float:
    """Mean loss of logits Z (m, n_out) against targets Y (see the module docstring)."""
    if output_name(output) == "softmax":
        return cross_entropy(Z, Y)
    Y = Y.astype(Z.dtype, copy=False)
    per_entry = np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))
    return float(per_entry.sum(dtype=np.float64) / max(Z.shape[0], 1))


def output_delta(P: np.ndarray, Y: np.ndarray, output: str = "softmax") -> np.ndarray:
    """dLoss/dZ times m: ``P - Y`` with Y one-hot (softmax) or the indicator (logistic)."""
    if output_name(output) == "softmax":
        return P - one_hot(Y, P.shape[1], P.dtype)
    return P - Y.astype(P.dtype, copy=False)


def predictions(P: np.ndarray, output: str = "softmax") -> np.ndarray:
    """Most probable class (m,) int64, or (logistic) the indicator ``P > 0.5`` (m, n_out) int64."""
    if output_name(output) == "softmax":
        return get_predictions(P)
    return (P > 0.5).astype(np.int64)


def correct_count(P: np.ndarray, Y: np.ndarray, output: str = "softmax") -> int:
    """Rows predicted right: the label, or (logistic) every one of the row's outputs."""
    right = predictions(P, output) == Y
    return int(np.sum(right if right.ndim == 1 else right.all(axis=1)))
