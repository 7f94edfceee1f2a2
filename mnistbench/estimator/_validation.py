"""What :class:`~mnistbench.estimator.MLPClassifier` accepts, and how it hands it to the kernels.

The parameter constraints (scikit-learn's ``_parameter_constraints`` vocabulary), the network
architecture a parameter set describes, labels as int64 codes, ``random_state`` as an int seed,
scikit-learn's batch-size rule, and X in the one layout every engine reads.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from mnistbench.reference.augment import MAX_ALPHA, MAX_ROTATE
from mnistbench.reference.model import SIDE
from mnistbench.reference.network import ACTIVATION_ALIASES, INITS, activation_name
from mnistbench.reference.network import ACTIVATIONS as REFERENCE_ACTIVATIONS
from mnistbench.reference.optim import SCHEDULES

from ._sklearn_compat import Interval, InvalidParameterError, Options, StrOptions
from .engines import ENGINES

if TYPE_CHECKING:
    from ._classifier import MLPClassifier

# validate_data keeps these dtypes and converts others to the first: uint8 stays uint8 (pixels,
# scaled by 1/255 inside the kernels), ints, bools and numeric objects become floats.
X_DTYPES = (np.float64, np.float32, np.uint8)
# Sparse formats X may come in (others are converted to the first, as scikit-learn does).
SPARSE = ["csr", "csc"]
# The estimator's activation names, each to the reference's (one vocabulary: scikit-learn's
# relu, tanh, logistic, identity; our leaky_relu, gelu; "sigmoid" an alias of logistic).
ACTIVATIONS = {
    name: activation_name(name) for name in (*REFERENCE_ACTIVATIONS, *ACTIVATION_ALIASES)
}

CONSTRAINTS: dict[str, list] = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="left")],  # scikit-learn also allows 1
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    "max_fun": [Interval(Integral, 1, None, closed="left")],
    "engine": [StrOptions(set(ENGINES))],
    "dtype": [StrOptions({"float32", "float64"}), Options(type, {np.float32, np.float64}), None],
    "lr_schedule": [StrOptions(set(SCHEDULES))],
    "init": [StrOptions({"auto", *INITS})],
    "callback": [callable, None],
    "log_interval": [Interval(Integral, 1, None, closed="left")],
    # Content and combinations: mnistbench.estimator._augmenting.config_for, at fit time.
    "augment": [None, str, list, tuple, set, frozenset],
    "rotate": [Interval(Real, 0, MAX_ROTATE, closed="both")],
    "scale": [Interval(Real, 0, 1, closed="left")],
    "shift": [Interval(Real, 0, SIDE, closed="both")],
    "elastic_alpha": [Interval(Real, 0, MAX_ALPHA, closed="both")],
    "elastic_sigma": [Interval(Real, 0, SIDE, closed="both")],
    "noise": [Interval(Real, 0, 1, closed="both")],
    # A sequence's length (one rate per hidden layer) and rates: mnistbench.estimator._regularizing.
    "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    "l1": [Interval(Real, 0, None, closed="left")],
    "batch_norm": ["boolean"],
    "bn_momentum": [Interval(Real, 0, 1, closed="neither")],
}


def architecture(hidden_layer_sizes: Any, activation: str, engine: str) -> tuple[tuple, str]:
    """(hidden widths, activation in the reference's names), checked against the engine."""
    sizes = hidden_layer_sizes
    sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
    if not sizes or any(isinstance(s, bool) or not isinstance(s, Integral) or s < 1 for s in sizes):
        raise InvalidParameterError(
            "The 'hidden_layer_sizes' parameter of MLPClassifier must be an int in the range "
            f"[1, inf) or a non-empty sequence of them. Got {hidden_layer_sizes!r} instead."
        )
    hidden, activation = tuple(int(s) for s in sizes), ACTIVATIONS[activation]
    ENGINES[engine].check_architecture(hidden, activation)
    return hidden, activation


def weights_dtype(est: MLPClassifier) -> np.dtype:
    """Return the dtype the estimator trains in.

    Its ``dtype``, or (None) the one the last ``fit``/``partial_fit`` resolved from X
    (:func:`dtype_for`).
    """
    if est.dtype is not None:
        return np.dtype(est.dtype)
    return est.__dict__.get("_weights_dtype", np.dtype(np.float64))


def dtype_for(dtype: Any, X: np.ndarray, fitted: np.dtype | None) -> np.dtype:
    """Return ``dtype``, or (None) the dtype scikit-learn's rule gives.

    The fitted weights' dtype when training continues (``fitted``), else float32 for float32
    X and float64 for anything else.
    """
    if dtype is not None:
        return np.dtype(dtype)
    if fitted is not None:
        return np.dtype(fitted)
    return np.dtype(np.float32 if X.dtype == np.float32 else np.float64)


def kernel_X(X: Any, dtype: np.typing.DTypeLike) -> Any:
    """Return X as the engines read it: uint8 pixels as they are, else the weights' dtype.

    Sparse X stays sparse (CSR; uint8 pixels as floats / 255, as the reference reads them),
    densified a chunk of rows at a time (mnistbench.estimator._sparse).
    """
    if scipy.sparse.issparse(X):
        dtype = np.dtype(dtype)
        X = X.tocsr()
        if X.dtype == np.uint8:
            return (X.astype(dtype) / dtype.type(255)).tocsr()
        return X if X.dtype == dtype else X.astype(dtype)
    if X.dtype == np.uint8:
        return np.ascontiguousarray(X)
    return np.ascontiguousarray(X, dtype=dtype)


def classes_of(y: Any) -> np.ndarray:
    """Sorted distinct labels of y (scikit-learn's ``unique_labels``); one label is allowed."""
    return unique_labels(np.asarray(y))


def targets(y: Any) -> np.ndarray:
    """Return y as classification targets: (m,) labels, or a multilabel (m, k) 0/1 int64 matrix.

    A 2-D 0/1 y with several columns is multilabel (scikit-learn's "multilabel-indicator");
    one column is raveled with scikit-learn's warning; any other 2-D y is refused.
    """
    if scipy.sparse.issparse(y):
        y = y.toarray()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and type_of_target(y) == "multilabel-indicator":
        return np.ascontiguousarray(y != 0, dtype=np.int64)  # two values: nonzero is 1
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    return y


def n_outputs(classes: np.ndarray) -> int:
    """Softmax output units for ``classes``: one per class, and two for a single class.

    scikit-learn fits a single class with one logistic unit trained towards 0 and reports
    ``[1 - p, p]``; two softmax units with every row in the first are the same model in our
    layout (as two units are for two classes), so ``predict_proba`` has two columns as there.
    """
    return max(2, len(classes))


def encode(classes: np.ndarray, y: Any) -> np.ndarray:
    """Labels as C-contiguous int64 codes: positions in the sorted ``classes``."""
    y = np.asarray(y)
    try:
        codes = np.searchsorted(classes, y)
        known = classes[np.minimum(codes, len(classes) - 1)] == y
    except TypeError:  # labels that do not compare with the classes at all
        codes, known = None, np.zeros(y.shape, bool)
    if not np.all(known):
        unseen = np.unique(y[~known].astype(str))
        raise ValueError(f"y has labels not in classes_ {classes!r}: {unseen[:5].tolist()}")
    return np.ascontiguousarray(codes, dtype=np.int64)


def seed_of(random_state: Any) -> int:
    """Return an int seed for initialisation and shuffling.

    The int itself, or one drawn from the RandomState (None: NumPy's global one, as
    scikit-learn uses).
    """
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def batch_size_for(batch_size: Any, n_samples: int) -> int:
    """scikit-learn's rule: "auto" is min(200, n); larger than n is clipped with a warning."""
    if batch_size == "auto":
        return min(200, n_samples)
    if batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
            stacklevel=5,
        )
    return int(min(batch_size, n_samples))


def cross_entropy(proba: np.ndarray, codes: np.ndarray) -> float:
    """Mean ``-log p[true class]`` from probabilities (clipped at the dtype's tiniest).

    With a multilabel indicator ``codes`` (m, k): scikit-learn's binary log loss, summed over
    the k outputs and averaged over rows, p clipped to [eps, 1 - eps] as there.
    """
    if codes.ndim == 2:
        eps = np.finfo(proba.dtype).eps
        p = np.clip(proba.astype(np.float64), eps, 1 - eps)
        return float(-np.sum(codes * np.log(p) + (1 - codes) * np.log1p(-p)) / len(codes))
    picked = proba[np.arange(codes.shape[0]), codes].astype(np.float64)
    return float(-np.mean(np.log(np.maximum(picked, np.finfo(proba.dtype).tiny))))


def dev_set(
    est: MLPClassifier, X_dev: Any, y_dev: Any, classes: np.ndarray
) -> tuple[Any, np.ndarray] | None:
    """``fit``'s optional dev set, checked like X (same features) and encoded like y."""
    if (X_dev is None) != (y_dev is None):
        raise ValueError("pass both X_dev and y_dev, or neither")
    if X_dev is None:
        return None
    X_dev = validate_data(est, X_dev, reset=False, dtype=X_DTYPES, accept_sparse=SPARSE)
    codes = encode(classes, column_or_1d(y_dev))
    if codes.shape[0] != X_dev.shape[0]:
        raise ValueError(f"y_dev has {codes.shape[0]} labels but X_dev has {X_dev.shape[0]} rows")
    return kernel_X(X_dev, weights_dtype(est)), codes


def penalty(params: tuple[np.ndarray, ...], l2: float, l1: float = 0.0) -> float:
    """Return ``0.5 * l2 * sum |W|^2 + l1 * sum |W|`` over the weight matrices.

    The weight matrices are every other array, from the first.
    """
    total = 0.0
    if l2:
        # einsum, not np.dot: BLAS would wake its threads, which then spin and slow the next
        # epoch.
        total += 0.5 * l2 * sum(float(np.einsum("ij,ij->", W, W)) for W in params[0::2])
    if l1:
        total += l1 * sum(float(np.abs(W).sum(dtype=np.float64)) for W in params[0::2])
    return total
