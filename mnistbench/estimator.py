"""``MLPClassifier``: scikit-learn's multi-layer perceptron classifier on the Numba kernels.

A drop-in for :class:`sklearn.neural_network.MLPClassifier`: the same parameters with the same
meanings and defaults, the same fitted attributes, scikit-learn's validation and error
messages, so it works in ``cross_val_score``, ``GridSearchCV`` and ``Pipeline``. What differs
is documented on the class. Training runs the project's one loop
(:func:`mnistbench.reference.training.fit`) on the engine chosen by ``engine``
(:data:`mnistbench.engines.ENGINES`); ``partial_fit`` is one more call of that loop, continuing
optimizer state, shuffling and scikit-learn's stopping bookkeeping exactly.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import NotFittedError
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _fitting, _weights
from ._inputs import (
    ACTIVATIONS,
    CONSTRAINTS,
    SPARSE,
    X_DTYPES,
    classes_of,
    cross_entropy,
    dev_set,
    dtype_for,
    encode,
    kernel_X,
    seed_of,
)
from ._sparse import predict_proba
from .engines import ENGINES

__all__ = ["ENGINES", "MLPClassifier", "NotFittedError"]


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier trained by our kernels, scikit-learn's API.

    Every parameter scikit-learn's ``MLPClassifier`` has is here with its meaning and default:
    ``hidden_layer_sizes``, ``activation``, ``solver`` (``lbfgs`` is SciPy's L-BFGS-B on the
    fused full-batch gradient), ``alpha``, ``batch_size``, ``learning_rate``,
    ``learning_rate_init``, ``power_t``, ``max_iter``, ``shuffle``, ``random_state``, ``tol``,
    ``verbose``, ``warm_start``, ``momentum``, ``nesterovs_momentum``, ``early_stopping``,
    ``validation_fraction``, ``beta_1``, ``beta_2``, ``epsilon``, ``n_iter_no_change``,
    ``max_fun``. ``alpha`` is scikit-learn's: the loss adds ``0.5 * alpha * |W|^2 /
    batch_size`` (``/ n_samples`` for lbfgs), i.e. our kernels' ``l2 = alpha / batch_size``.

    As there: float32 X trains and predicts in float32; X may be sparse (CSR/CSC, densified
    a chunk of rows at a time, :mod:`mnistbench._sparse`);
    ``warm_start`` and ``partial_fit`` continue scikit-learn's training state (``t_``, the
    no-improvement count, validation scores and best weights; a warm start restarts the
    optimizer, as there); ``coefs_``/``intercepts_`` may be assigned (checked, then trained
    from); ``activation`` is "identity", "logistic" (alias "sigmoid"), "tanh", "relu" or our
    "leaky_relu", "gelu".

    Our extras: ``engine`` ("numba", or "numpy" for the reference), ``dtype`` of the weights
    (None: follow X, float32 for float32 X, else float64; or "float64"/"float32"),
    ``lr_schedule`` (constant/step/cosine over ``max_iter`` epochs,
    multiplied into scikit-learn's ``learning_rate`` rule), ``init`` ("auto": He for ReLU,
    Glorot otherwise; "seed": the seed notebook's uniform [-0.5, 0.5); "he"; "glorot"),
    ``callback(epoch, loss, train_accuracy, dev_accuracy)`` and ``log_interval`` (epochs
    between ``history_`` rows and callback calls). ``fit`` also takes ``X_dev``/``y_dev``,
    whose accuracy is logged in ``history_``.

    On-the-fly augmentation of 28x28 images (784 features, uint8 pixels or floats in [0, 1];
    sgd/adam only; never at predict time): ``augment`` is None (off) or some of "affine",
    "elastic", "noise" (a set, tuple or comma string). Each training batch is transformed right
    before its step, image ``row`` of epoch ``e`` by a pure function of (``random_state``, e,
    row): "affine" rotates by up to ``rotate`` degrees, zooms by a factor in [1 - ``scale``,
    1 + ``scale``] and shifts by up to ``shift`` pixels per axis (one bilinear resampling);
    "elastic" adds Simard et al.'s displacement field (uniform noise smoothed by a Gaussian of
    width ``elastic_sigma``, times ``elastic_alpha``); "noise" adds Gaussian pixel noise of std
    ``noise`` (clipped to [0, 1]). Settings of families not listed are ignored. ``loss_curve_``
    and ``history_``'s training accuracy are then those of the augmented batches.

    Regularisation beside ``alpha`` (sgd/adam; ``l1`` also lbfgs): ``dropout``, a rate in
    [0, 1) for every hidden layer or one per hidden layer (inverted dropout: kept units scaled
    by 1 / (1 - rate); masks are a pure function of (``random_state``, optimizer step, layer,
    row, unit), the same on both engines; off at predict time); ``l1``, the coefficient of
    ``l1 * sum |W|`` added to each batch's mean loss (weights only, not biases; not divided by
    the batch size, unlike ``alpha``); ``batch_norm``, batch normalisation of every hidden
    layer's pre-activations (Z -> BN -> activation; batch statistics in training, running ones,
    with momentum ``bn_momentum``, at predict time; the learnable scale and shift and the
    running statistics are saved in model files). Any of them trains a layer stack (never the
    fused seed kernels).

    Differences, on purpose: ``uint8`` X is read as 8-bit pixels and scaled by 1/255 inside
    the kernels (the one-byte-per-pixel fast path); pass floats to use values as they are.
    Binary problems use two softmax outputs (scikit-learn: one logistic unit),
    so ``out_activation_`` is always "softmax" and ``n_outputs_`` the number of classes.
    Momentum uses PyTorch's form (the same steps as scikit-learn's at a constant rate). The
    default ``init="auto"`` draws He weights for the ReLU family. ``n_iter_`` after
    ``partial_fit`` counts every epoch trained. The L2 term of the last, smaller batch uses the
    full batch's coefficient. A loss that becomes NaN/Inf or 10x its starting value raises
    :class:`~mnistbench.reference.training.TrainingDiverged`. No ``sample_weight``; no
    multilabel targets. Any ``hidden_layer_sizes`` and activation runs: one ReLU layer of at
    most 32 units on the seed's fused kernels, the rest on the layer-stack ones.
    """

    _parameter_constraints: ClassVar[dict] = CONSTRAINTS

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        engine="numba",
        dtype=None,
        lr_schedule="constant",
        init="auto",
        callback=None,
        log_interval=1,
        augment=None,
        rotate=10.0,
        scale=0.1,
        shift=2.0,
        elastic_alpha=34.0,
        elastic_sigma=4.0,
        noise=0.05,
        dropout=0.0,
        l1=0.0,
        batch_norm=False,
        bn_momentum=0.1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.engine = engine
        self.dtype = dtype
        self.lr_schedule = lr_schedule
        self.init = init
        self.callback = callback
        self.log_interval = log_interval
        self.augment = augment
        self.rotate = rotate
        self.scale = scale
        self.shift = shift
        self.elastic_alpha = elastic_alpha
        self.elastic_sigma = elastic_sigma
        self.noise = noise
        self.dropout = dropout
        self.l1 = l1
        self.batch_norm = batch_norm
        self.bn_momentum = bn_momentum

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, classes=None, X_dev=None, y_dev=None) -> MLPClassifier:
        """Train on X: (n_samples, n_features), y: (n_samples,) labels of any hashable type.

        Our extras: ``classes``, every label the model can predict (default: those in y; the
        CLI passes 0..9 for MNIST files); ``X_dev``/``y_dev`` (both or neither), a dev set
        whose accuracy ``history_`` logs. Raises ``TrainingDiverged`` (leaving the estimator
        as it was) if the loss diverges.
        """
        warm = self.warm_start and self._assigned_weights() is not None
        X, y = self._validate_Xy(
            X, y, reset=not (warm and hasattr(self, "n_features_in_")), continuing=warm
        )
        if warm and hasattr(self, "classes_"):
            classes = self.classes_
        else:
            classes = classes_of(y if classes is None else classes)
        if warm and set(unique_labels(y)) != set(classes):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous "
                f"call to fit. Previously got {classes}, `y` has {unique_labels(y)}"
            )
        codes, dev = encode(classes, y), dev_set(self, X_dev, y_dev, classes)
        seed = seed_of(self.random_state)
        params = _weights.start_params(self, X.shape[1], len(classes), seed, warm)
        started = time.perf_counter()
        previous = getattr(self, "_progress", None) if warm else None
        params, history, progress = _fitting.train(
            self, params, X, codes, seed, dev, previous, classes
        )
        self.classes_ = classes
        seconds = time.perf_counter() - started
        self._set_fitted(params, history, progress, progress.epochs_done, seconds)
        return self

    def _is_stochastic(self) -> bool:
        if self.solver == "lbfgs":
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic."
            )
        return True

    @available_if(_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None) -> MLPClassifier:
        """One more epoch on (X, y), continuing weights, optimizer state and shuffling.

        ``classes`` (every label the model will see) is required on the first call. If the
        epoch diverges, ``TrainingDiverged`` is raised and the estimator is left unchanged.
        """
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = self._assigned_weights() is None
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first and classes is not None and hasattr(self, "classes_"):
            if not np.array_equal(unique_labels(classes), self.classes_):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to "
                    f"partial_fit, was: {self.classes_!r}"
                )
        X, y = self._validate_Xy(
            X, y, reset=not hasattr(self, "n_features_in_"), continuing=not first
        )
        labels = self.classes_ if hasattr(self, "classes_") else classes_of(classes)
        codes, seed = encode(labels, y), seed_of(self.random_state)
        if not first:
            self._assigned_weights(len(labels))
        params = _weights.start_params(self, X.shape[1], len(labels), seed, not first)
        progress = copy.deepcopy(getattr(self, "_progress", None))  # kept if the epoch fails
        if progress is None or progress.state is None:
            progress = _fitting.start(
                params, cross_entropy(self._proba(params, X), codes), seed, False
            )
            progress.epochs_done = getattr(self, "n_iter_", 0)
        started = time.perf_counter()
        params, history = _fitting.stochastic(
            _fitting.plan_for(self, X.shape[0], seed),
            progress,
            params,
            X,
            codes,
            epochs=1,
            callback=self.callback,
        )
        seconds = getattr(self, "fit_seconds_", 0.0)
        if hasattr(self, "history_"):
            history = _fitting.continued(self.history_, history, seconds)
        self.classes_ = labels
        self._set_fitted(
            params, history, progress, progress.epochs_done, seconds + time.perf_counter() - started
        )
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=X_DTYPES, accept_sparse=SPARSE)
        params = self._assigned_weights()
        return self._proba(params, kernel_X(X, params.dtype))

    def predict_log_proba(self, X) -> np.ndarray:
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def predict(self, X) -> np.ndarray:
        """Predicted labels (n_samples,), values from ``classes_``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def log_loss(self, X, y) -> float:
        """Mean cross-entropy of the model on (X, y), without the L2 term."""
        proba = self.predict_proba(X)
        codes = encode(self.classes_, column_or_1d(y))
        if codes.shape[0] != proba.shape[0]:
            raise ValueError(f"y has {codes.shape[0]} labels but X has {proba.shape[0]} rows")
        return cross_entropy(proba, codes)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model (weights, labels, parameters, history) atomically."""
        from .model_files import save_estimator

        check_is_fitted(self)
        self._assigned_weights()
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLPClassifier:
        """A fitted estimator from a file written by :meth:`save` (fresh optimizer state)."""
        from .model_files import load_estimator

        return load_estimator(cls, path)

    def _assigned_weights(self, n_out: int | None = None):
        """``params_``, first rebuilt from ``coefs_``/``intercepts_`` where the user assigned
        new arrays to them (scikit-learn's way to set starting weights); None when neither
        exists. The lists hold views of ``params_``, so edits in place need no rebuild."""
        coefs, intercepts = self.__dict__.get("coefs_"), self.__dict__.get("intercepts_")
        params = self.__dict__.get("params_")
        if coefs is None and intercepts is None:
            return params
        views = self.__dict__.get("_weight_views", ())
        if params is not None and _weights.same_views(coefs, intercepts, views):
            return params
        if n_out is None and hasattr(self, "classes_"):
            n_out = len(self.classes_)
        params = _weights.assigned_params(self, coefs, intercepts, n_out, params)
        self.params_ = params
        self._set_weight_views()
        return params

    def _set_weight_views(self) -> None:
        params = self.params_
        self.coefs_ = [W.T for W in params[0::2]]
        self.intercepts_ = list(params[1::2])
        self._weight_views = (*self.coefs_, *self.intercepts_)

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object's is the live __dict__
        for name in ("coefs_", "intercepts_", "_weight_views"):
            state.pop(name, None)  # views; rebuilt from params_ on unpickling
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "params_" in state:
            self._set_weight_views()

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")  # n_features_in_ is set before training can fail

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR/CSC, densified a chunk of rows at a time
        tags.classifier_tags.multi_label = False  # softmax over classes only
        return tags

    def _validate_Xy(self, X, y, reset: bool, continuing: bool) -> tuple[np.ndarray, np.ndarray]:
        """X in the weights' dtype (resolved here for ``dtype=None``: :func:`dtype_for`), y
        checked as classification targets."""
        X, y = validate_data(self, X, y, reset=reset, dtype=X_DTYPES, accept_sparse=SPARSE)
        check_classification_targets(y)
        fitted = self.params_.dtype if continuing else None
        self._weights_dtype = dtype_for(self.dtype, X, fitted)
        return kernel_X(X, self._weights_dtype), y

    def _proba(self, params, X: np.ndarray) -> np.ndarray:
        # The activation as set now, like scikit-learn's own predict
        engine = ENGINES[self.engine].bind(ACTIVATIONS[self.activation])
        return predict_proba(engine, params, X)

    def _set_fitted(self, params, history, progress, n_iter: int, seconds: float) -> None:
        arrays = params.all_arrays() if hasattr(params, "all_arrays") else params
        if not all(np.isfinite(w).all() for w in arrays):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may "
                "contain large values and need to be preprocessed."
            )
        self.params_, self.history_, self._progress = params, history, progress
        self._set_weight_views()
        self.n_iter_, self.t_ = int(n_iter), progress.samples_seen
        self.loss_curve_ = list(progress.loss_curve)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else progress.initial_loss
        early = progress.validation_scores is not None
        self.best_loss_ = None if early else progress.best_loss
        self.validation_scores_ = progress.validation_scores
        self.best_validation_score_ = progress.best_validation_score
        self.n_layers_ = len(params) // 2 + 1
        self.n_outputs_ = len(self.classes_)
        self.out_activation_ = "softmax"
        self.fit_seconds_ = seconds
