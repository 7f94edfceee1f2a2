"""The estimator's methods: scikit-learn's ``fit``/``partial_fit``/``predict`` on our loop.

:class:`BaseMLP` holds what :class:`~mnistbench.estimator.MLPClassifier` does; the class itself
(``_classifier.py``) holds its parameters and their documentation, as scikit-learn's
``BaseMultilayerPerceptron`` does for its ``MLPClassifier``. Training runs the project's one
loop (:func:`mnistbench.reference.training.fit`) on the engine chosen by ``engine``
(:data:`mnistbench.estimator.engines.ENGINES`); ``partial_fit`` is one more call of that loop,
continuing optimizer state, shuffling and scikit-learn's stopping bookkeeping exactly.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from mnistbench.reference.model import History

from . import _stochastic
from ._progress import Progress
from ._setup import resolve
from ._sklearn_compat import _fit_context
from ._sparse import predict_proba
from ._state import ModelState
from ._validation import (
    ACTIVATIONS,
    SPARSE,
    X_DTYPES,
    classes_of,
    cross_entropy,
    dev_set,
    dtype_for,
    encode,
    kernel_X,
    n_outputs,
    seed_of,
    targets,
)
from ._weights import assigned_weights, same_views, start_model
from .engines import ENGINES

if TYPE_CHECKING:
    from mnistbench.reference.network import Network

__all__ = ["BaseMLP"]


class BaseMLP(ClassifierMixin, BaseEstimator):
    """Fitting, prediction and model files of :class:`~mnistbench.estimator.MLPClassifier`."""

    classes_: np.ndarray  # set by fit (scikit-learn's fitted attribute); declared for the types

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, *, classes: Any = None, X_dev: Any = None, y_dev: Any = None):
        """Train on ``(X, y)``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            uint8 pixels (scaled by 1/255 in the kernels) or numbers.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels of any sortable type, or a 0/1 indicator matrix (multilabel: one logistic
            output per column, binary cross-entropy, as scikit-learn).
        classes : array-like, default=None
            Every label the model can predict (default: those in ``y``).
        X_dev, y_dev : array-like, default=None
            A dev set (both or neither) whose accuracy ``history_`` logs.

        Returns
        -------
        self : MLPClassifier
            The fitted estimator. If the loss diverges, ``TrainingDiverged`` is raised and the
            estimator is left as it was.
        """
        warm = self.warm_start and self._assigned_weights() is not None
        X, y = self._validate_Xy(
            X, y, reset=not (warm and hasattr(self, "n_features_in_")), continuing=warm
        )
        output = self._output_for(y, continuing=warm)
        if warm and hasattr(self, "classes_"):
            classes = self.classes_
        elif output == "logistic":
            classes = np.arange(y.shape[1])
        else:
            classes = classes_of(y if classes is None else classes)
        if warm and set(unique_labels(y)) != set(classes):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous "
                f"call to fit. Previously got {classes}, `y` has {unique_labels(y)}"
            )
        if output == "logistic" and X_dev is not None:
            raise ValueError("X_dev/y_dev are not supported with multilabel y")
        codes = y if output == "logistic" else encode(classes, y)
        dev = dev_set(self, X_dev, y_dev, classes)
        seed = seed_of(self.random_state)
        setup = resolve(self, seed, layer_stack=warm and self._layer_stack, output=output)
        model = start_model(self, setup, X.shape[1], n_outputs(classes), seed, warm)
        started = time.perf_counter()
        previous = getattr(self, "_progress", None) if warm else None
        model, history, progress = _stochastic.train(
            self, setup, model, X, codes, seed, dev, previous, classes
        )
        self.classes_ = classes
        seconds = time.perf_counter() - started
        layer_stack = setup.engine.layer_stack
        self._set_fitted(model, layer_stack, history, progress, progress.epochs_done, seconds)
        return self

    def _is_stochastic(self) -> bool:
        if self.solver == "lbfgs":
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic."
            )
        return True

    @available_if(_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any, classes: Any = None):
        """Train one more epoch on ``(X, y)``, continuing weights, optimizer state, shuffling.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            uint8 pixels or numbers, with the features of the first call.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels, each one of ``classes``, or a 0/1 indicator matrix (multilabel).
        classes : array-like, default=None
            Every label the model will see; required on the first call.

        Returns
        -------
        self : MLPClassifier
            The estimator; if the epoch diverges, ``TrainingDiverged`` is raised and the
            estimator is left unchanged.
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
        output = self._output_for(y, continuing=not first)
        if hasattr(self, "classes_"):
            labels = self.classes_
        else:
            labels = np.arange(y.shape[1]) if output == "logistic" else classes_of(classes)
        codes = y if output == "logistic" else encode(labels, y)
        seed = seed_of(self.random_state)
        if not first:
            self._assigned_weights(n_outputs(labels))
        setup = resolve(self, seed, layer_stack=not first and self._layer_stack, output=output)
        model = start_model(self, setup, X.shape[1], n_outputs(labels), seed, not first)
        progress = copy.deepcopy(getattr(self, "_progress", None))  # kept if the epoch fails
        if progress is None or progress.state is None:
            initial_loss = _stochastic.baseline_loss(setup.engine, model, X, codes)
            progress = _stochastic.start(model, initial_loss, seed, False)
            progress.epochs_done = getattr(self, "n_iter_", 0)
        started = time.perf_counter()
        model, history = _stochastic.stochastic(
            _stochastic.plan_for(self, setup, X.shape[0], seed),
            progress,
            model,
            X,
            codes,
            epochs=1,
            callback=self.callback,
            n_classes=len(labels),
        )
        seconds = getattr(self, "fit_seconds_", 0.0)
        if hasattr(self, "history_"):
            history = _stochastic.continued(self.history_, history, seconds)
        self.classes_ = labels
        seconds += time.perf_counter() - started
        layer_stack = setup.engine.layer_stack
        self._set_fitted(model, layer_stack, history, progress, progress.epochs_done, seconds)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return class probabilities.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            In the weights' dtype; columns in the order of ``classes_`` (a single class: two
            columns, as scikit-learn's; multilabel: each label's own probability).
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=X_DTYPES, accept_sparse=SPARSE)
        network = self._assigned_weights()
        assert network is not None  # fitted (check_is_fitted above)
        return self._proba(ModelState(network, self.batch_norm_state_), kernel_X(X, network.dtype))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Return ``log(predict_proba(X))``, shape (n_samples, n_classes)."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def predict(self, X: Any) -> np.ndarray:
        """Return the most probable label of each row, shape (n_samples,), from ``classes_``.

        A model fitted on a single class predicts it for every row, as scikit-learn's does;
        a multilabel one returns the (n_samples, n_labels) indicator ``proba > 0.5``.
        """
        proba = self.predict_proba(X)
        if self.out_activation_ == "logistic":
            return (proba > 0.5).astype(np.int64)
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, proba.shape[0])
        return self.classes_[np.argmax(proba, axis=1)]

    def log_loss(self, X: Any, y: Any) -> float:
        """Return the mean cross-entropy of the model on ``(X, y)``, without the L2 term."""
        proba = self.predict_proba(X)
        if self.out_activation_ == "logistic":
            codes = np.asarray(y)
            if codes.shape != proba.shape or not np.isin(codes, (0, 1)).all():
                raise ValueError(f"y must be a {proba.shape} 0/1 indicator matrix")
            return cross_entropy(proba, codes)
        codes = encode(self.classes_, column_or_1d(y))
        if codes.shape[0] != proba.shape[0]:
            raise ValueError(f"y has {codes.shape[0]} labels but X has {proba.shape[0]} rows")
        return cross_entropy(proba, codes)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model (weights, labels, parameters, history) atomically.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.npz`` file to write (:mod:`mnistbench.model_files`).

        Returns
        -------
        Path
            The path written.
        """
        from ._files import save_estimator  # model_files imports this package: import late

        check_is_fitted(self)
        self._assigned_weights()
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]):
        """Return a fitted estimator from a file written by :meth:`save` (fresh optimizer state).

        Parameters
        ----------
        path : str or os.PathLike
            A model file (any format version this package reads).

        Returns
        -------
        MLPClassifier
            The fitted estimator.
        """
        from ._files import load_estimator

        return load_estimator(cls, path)

    @property
    def _layer_stack(self) -> bool:
        """Whether the fitted weights run on the layer-stack kernels whatever their shape.

        Weights trained with dropout, L1 or batch norm keep to the kernels they trained on.
        """
        return bool(self.__dict__.get("_fitted_on_layer_stack", False))

    def _assigned_weights(self, n_out: int | None = None) -> Network | None:
        """Return ``params_``, rebuilt first where ``coefs_``/``intercepts_`` were assigned.

        Assigning new arrays to them is scikit-learn's way to set starting weights; None when
        neither exists. The lists hold views of ``params_``, so edits in place need no rebuild.
        """
        coefs, intercepts = self.__dict__.get("coefs_"), self.__dict__.get("intercepts_")
        network = self.__dict__.get("params_")
        if coefs is None and intercepts is None:
            return network
        views = self.__dict__.get("_weight_views", ())
        if network is not None and same_views(coefs, intercepts, views):
            return network
        if n_out is None and hasattr(self, "classes_"):
            n_out = n_outputs(self.classes_)
        self.params_ = assigned_weights(self, coefs, intercepts, n_out, network)
        self.__dict__.setdefault("batch_norm_state_", None)
        self._set_weight_views()
        return self.params_

    def _set_weight_views(self) -> None:
        network = self.params_
        self.coefs_ = [W.T for W in network.weights]
        self.intercepts_ = list(network.biases)
        self._weight_views = (*self.coefs_, *self.intercepts_)

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: object's is the live __dict__
        for name in ("coefs_", "intercepts_", "_weight_views"):
            state.pop(name, None)  # views; rebuilt from params_ on unpickling
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "params_" in state:
            self._set_weight_views()

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")  # n_features_in_ is set before training can fail

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR/CSC, densified a chunk of rows at a time
        tags.classifier_tags.multi_label = True  # a 2-D indicator y: logistic outputs
        return tags

    def _output_for(self, y: np.ndarray, continuing: bool) -> str:
        """The output layer y needs: "logistic" for a 2-D indicator, else "softmax".

        Training that continues must keep the fitted one.
        """
        output = "logistic" if y.ndim == 2 else "softmax"
        fitted = self.__dict__.get("_output", "softmax")
        if continuing and output != fitted:
            kinds = {"softmax": "one label per row", "logistic": "a multilabel indicator"}
            raise ValueError(
                f"the model was fitted on {kinds[fitted]} but y is {kinds[output]}; "
                "fit it afresh (warm_start=False)"
            )
        self._output = output
        return output

    def _validate_Xy(self, X, y, reset: bool, continuing: bool) -> tuple[np.ndarray, np.ndarray]:
        """Return X in the weights' dtype and y checked as classification targets.

        The weights' dtype is resolved here for ``dtype=None`` (:func:`dtype_for`).
        """
        X, y = validate_data(
            self, X, y, reset=reset, dtype=X_DTYPES, accept_sparse=SPARSE, multi_output=True
        )
        y = targets(y)
        fitted = self.params_.dtype if continuing else None
        self._weights_dtype = dtype_for(self.dtype, X, fitted)
        return kernel_X(X, self._weights_dtype), y

    def _proba(self, model: ModelState, X: np.ndarray) -> np.ndarray:
        # The activation as set now, like scikit-learn's own predict
        activation, output = ACTIVATIONS[self.activation], self.__dict__.get("_output", "softmax")
        engine = ENGINES[self.engine].bind(activation, layer_stack=self._layer_stack, output=output)
        return predict_proba(engine, model, X)

    def _set_fitted(
        self,
        model: ModelState,
        layer_stack: bool,
        history: History,
        progress: Progress,
        n_iter: int,
        seconds: float,
    ) -> None:
        if not all(np.isfinite(w).all() for w in model.arrays()):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may "
                "contain large values and need to be preprocessed."
            )
        self.params_, self.batch_norm_state_ = model
        self._fitted_on_layer_stack = layer_stack
        self.history_, self._progress = history, progress
        self._set_weight_views()
        self.n_iter_, self.t_ = int(n_iter), progress.samples_seen
        self.loss_curve_ = list(progress.loss_curve)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else progress.initial_loss
        early = progress.validation_scores is not None
        self.best_loss_ = None if early else progress.best_loss
        self.validation_scores_ = progress.validation_scores
        self.best_validation_score_ = progress.best_validation_score
        self.n_layers_ = len(model.network) // 2 + 1
        self.n_outputs_ = model.network.n_out
        self.out_activation_ = self.__dict__.get("_output", "softmax")
        self.fit_seconds_ = seconds
