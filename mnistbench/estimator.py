"""A scikit-learn style classifier around the seed network, on either engine.

``MLPClassifier(hidden=128, batch_size=128, epochs=10, optimizer="adam", learning_rate=1e-3)``
follows scikit-learn's conventions (constructor arguments stored as given and validated at fit
time, fitted attributes end in ``_``, ``get_params``/``set_params``) without depending on it.

Both engines run the same loop (:func:`mnistbench.reference.training.fit`) with the same batches,
so ``engine="numba"`` and ``engine="numpy"`` give the same model up to rounding. The optimizer
state (momentum velocity, Adam moments and step count) is kept on the estimator, so
:meth:`MLPClassifier.partial_fit` continues exactly where the last epoch stopped: ``fit`` for
``E`` epochs followed by one ``partial_fit`` on the same data equals ``fit`` for ``E + 1`` epochs
under a constant learning rate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mnistbench.kernels import checks
from mnistbench.kernels import model as kernel_model
from mnistbench.kernels.training import EpochRunner
from mnistbench.reference import model as ref
from mnistbench.reference.model import N_CLASSES, N_PIXELS, History, Params, init_params
from mnistbench.reference.optim import (
    OptimizerConfig,
    OptimizerState,
    init_state,
    learning_rate_at,
)
from mnistbench.reference.training import (
    TrainConfig,
    TrainingDiverged,
    as_float,
    check_divergence,
    epoch_order,
    fit,
    minibatch_epoch,
)

from .model_files import ModelFileError, load_model, save_model

ENGINES = ("numba", "numpy")
EpochFn = Callable[[Params, np.ndarray, int, float, OptimizerState], tuple[Params, float, int]]

__all__ = ["ENGINES", "MLPClassifier", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """The estimator was used before ``fit`` (the same bases as scikit-learn's)."""


class MLPClassifier:
    """784 -> ``hidden`` ReLU -> 10 softmax classifier trained from scratch.

    Parameters mirror :class:`~mnistbench.reference.training.TrainConfig` (``epochs`` is the
    number of iterations for full-batch training, ``batch_size=None``), plus ``engine``
    ("numba" or "numpy") and ``callback(epoch, loss, train_accuracy, dev_accuracy)``, called
    every ``log_interval`` epochs and after the last.

    Fitted attributes: ``params_`` (:class:`Params`), ``history_`` (:class:`History`),
    ``classes_`` (0..9), ``n_features_in_`` (784), ``n_iter_`` (epochs run), ``loss_`` (mean
    loss of the last epoch), ``fit_seconds_`` (wall time of the training loop).
    """

    _PARAM_NAMES = (
        "hidden",
        "batch_size",
        "epochs",
        "optimizer",
        "learning_rate",
        "lr_schedule",
        "l2",
        "seed",
        "dtype",
        "engine",
        "callback",
        "log_interval",
    )

    def __init__(
        self,
        hidden: int = 10,
        batch_size: int | None = None,
        epochs: int = 500,
        optimizer: str = "sgd",
        learning_rate: float = 0.1,
        lr_schedule: str = "constant",
        l2: float = 0.0,
        seed: int = 0,
        dtype: str = "float64",
        engine: str = "numba",
        callback: Callable[[int, float, float, float], None] | None = None,
        log_interval: int = 1,
    ) -> None:
        self.hidden = hidden
        self.batch_size = batch_size
        self.epochs = epochs
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.l2 = l2
        self.seed = seed
        self.dtype = dtype
        self.engine = engine
        self.callback = callback
        self.log_interval = log_interval

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments by name (scikit-learn's protocol)."""
        return {name: getattr(self, name) for name in self._PARAM_NAMES}

    def set_params(self, **params: Any) -> MLPClassifier:
        """Set constructor arguments by name; unknown names raise ``ValueError``."""
        for name, value in params.items():
            if name not in self._PARAM_NAMES:
                raise ValueError(
                    f"invalid parameter {name!r} for MLPClassifier; valid: {self._PARAM_NAMES}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = MLPClassifier().get_params()
        changed = {k: v for k, v in self.get_params().items() if not _same(v, defaults[k])}
        return f"MLPClassifier({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def _config(self) -> TrainConfig:
        """The constructor arguments as a validated TrainConfig (its messages name the problem)."""
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if self.callback is not None and not callable(self.callback):
            raise TypeError(
                f"callback must be callable or None, got {type(self.callback).__name__}"
            )
        log_interval = _plain_int(self.log_interval)
        if isinstance(log_interval, bool) or not isinstance(log_interval, int):
            raise ValueError(f"log_interval must be a positive integer, got {log_interval!r}")
        dtype = self.dtype
        if isinstance(dtype, (type, np.dtype)):
            try:
                dtype = np.dtype(dtype).name
            except TypeError:
                pass
        return TrainConfig(
            hidden=_plain_int(self.hidden),
            batch_size=_plain_int(self.batch_size),
            epochs=_plain_int(self.epochs),
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            l2=self.l2,
            seed=_plain_int(self.seed),
            dtype=dtype,
            log_interval=log_interval,
        )

    def _check_X(self, X: Any, dtype: np.dtype, name: str = "X") -> np.ndarray:
        """(m, 784) uint8 pixels or floats in [0, 1], as the kernels' C-contiguous input."""
        X = checks.check_X(X, N_PIXELS, dtype, name)
        if X.dtype.kind == "f":
            low, high = float(X.min()), float(X.max())
            if low < 0 or high > 1:
                raise ValueError(
                    f"{name} holds floats in {low:g}..{high:g}; pass uint8 pixels (0..255) or "
                    "floats scaled to [0, 1] (divide by 255)"
                )
        return X

    def _check_Xy(
        self, X: Any, y: Any, dtype: np.dtype, names: tuple[str, str] = ("X", "y")
    ) -> tuple[np.ndarray, np.ndarray]:
        X = self._check_X(X, dtype, names[0])
        n_labels = np.shape(y)[0] if np.ndim(y) >= 1 else None
        if n_labels is not None and n_labels != X.shape[0]:
            raise ValueError(
                f"{names[1]} has {n_labels} labels but {names[0]} has {X.shape[0]} rows"
            )
        return X, checks.check_labels(y, X.shape[0], N_CLASSES, names[1])

    def _epoch_fn(
        self, params: Params, X: np.ndarray, y: np.ndarray, config: TrainConfig
    ) -> EpochFn:
        """One epoch on (X, y) on this estimator's engine, updating the optimizer state."""
        optimizer = OptimizerConfig(config.optimizer)
        if self.engine == "numba":
            return EpochRunner(params, X, y, optimizer, config.l2).run
        X_float = as_float(X, params.dtype)

        def epoch_fn(params, order, batch_size, learning_rate, state):
            return minibatch_epoch(
                params, X_float, y, order, batch_size, learning_rate, state, optimizer, config.l2
            )

        return epoch_fn

    def _forward(self, params: Params, X: np.ndarray) -> ref.Activations:
        """Forward pass on this estimator's engine for X already checked by :meth:`_check_X`."""
        if self.engine == "numba":
            return kernel_model.forward_prop(params, X)
        return ref.forward_prop(params, as_float(X, params.dtype))

    def _predict_fn(self, params: Params, X: np.ndarray) -> np.ndarray:
        """Probabilities (m, 10) for X already checked by :meth:`_check_X`."""
        if self.engine == "numba":
            return kernel_model.predict_proba(X, params)
        return self._forward(params, X).A2

    def _prepare(self, X: Any, y: Any) -> tuple[TrainConfig, np.dtype, np.ndarray, np.ndarray]:
        """The validated config, its dtype, and (X, y) checked against both."""
        config = self._config()
        dtype = np.dtype(config.dtype)
        X, y = self._check_Xy(X, y, dtype)
        m = X.shape[0]
        if config.batch_size is not None and config.batch_size > m:
            raise ValueError(
                f"batch_size must be in 1..{m} (the number of rows), got {config.batch_size}"
            )
        return config, dtype, X, y

    def fit(self, X: Any, y: Any, X_dev: Any = None, y_dev: Any = None) -> MLPClassifier:
        """Train from a fresh initialisation. X: (m, 784) uint8 or floats in [0, 1]; y: (m,) 0..9.

        ``X_dev``/``y_dev`` (both or neither) give the dev accuracy logged in ``history_``.
        Raises :class:`~mnistbench.reference.training.TrainingDiverged` (the estimator is then
        left as it was) when a logged epoch loss is not finite or exceeds
        :data:`~mnistbench.reference.training.DIVERGENCE_FACTOR` times the loss before training.
        """
        config, dtype, X, y = self._prepare(X, y)
        m = X.shape[0]
        if (X_dev is None) != (y_dev is None):
            raise ValueError("pass both X_dev and y_dev, or neither")
        if X_dev is not None:
            X_dev, y_dev = self._check_Xy(X_dev, y_dev, dtype, ("X_dev", "y_dev"))
        params = init_params(config.hidden, N_PIXELS, N_CLASSES, seed=config.seed, dtype=dtype)
        state = init_state(params)
        initial_loss = self._initial_loss(params, X, y)
        started = time.perf_counter()
        params, history = fit(
            self._epoch_fn(params, X, y, config),
            lambda p, Xd: ref.get_predictions(self._predict_fn(p, Xd)),
            m,
            params,
            config,
            OptimizerConfig(config.optimizer),
            X_dev=X_dev,
            Y_dev=y_dev,
            state=state,
            callback=self.callback,
            initial_loss=initial_loss,
        )
        self.fit_seconds_ = time.perf_counter() - started
        self._set_fitted(params, history, config.epochs)
        self._state = state
        self._initial_loss_ = initial_loss
        self._rng = None
        self._rng_replay = (m, config.batch_size, config.epochs)
        return self

    def _initial_loss(self, params: Params, X: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy of ``params`` on (X, y): the baseline divergence is judged against."""
        return ref.loss(self._forward(params, X).Z2, y)

    def _set_fitted(self, params: Params, history: History, n_iter: int) -> None:
        self.params_ = params
        self.history_ = history
        self.n_iter_ = n_iter
        self.loss_ = history.loss[-1] if len(history) else float("nan")
        self.classes_ = np.arange(N_CLASSES)
        self.n_features_in_ = N_PIXELS

    def _shuffle_rng(self, config: TrainConfig) -> np.random.Generator:
        """The generator of epoch orders, advanced past the epochs ``fit`` already drew."""
        if getattr(self, "_rng", None) is None:
            rng = np.random.default_rng(config.seed)
            replay = getattr(self, "_rng_replay", None)
            if replay is not None:
                m, batch_size, epochs = replay
                for _ in range(epochs):
                    epoch_order(rng, m, batch_size)
            self._rng = rng
        return self._rng

    def partial_fit(self, X: Any, y: Any) -> MLPClassifier:
        """One more epoch on (X, y), continuing the weights, optimizer state and shuffling.

        On an unfitted estimator it starts from the seed's initialisation. The learning rate
        follows the schedule at epoch ``n_iter_ % epochs`` (the schedule restarts every
        ``epochs`` epochs). If the epoch diverges, ``TrainingDiverged`` is raised and the
        estimator keeps its previous weights.
        """
        config, dtype, X, y = self._prepare(X, y)
        m = X.shape[0]
        if hasattr(self, "params_"):
            fitted = self.params_
            if fitted.hidden != config.hidden or fitted.dtype != dtype:
                raise ValueError(
                    f"hidden={config.hidden}, dtype={dtype.name} do not match the fitted network "
                    f"(hidden={fitted.hidden}, dtype={fitted.dtype.name}); call fit to start over"
                )
            params, history, n_iter = fitted.copy(), self.history_, self.n_iter_
            state = getattr(self, "_state", None) or init_state(params)
            fit_seconds = self.fit_seconds_
            initial_loss = getattr(self, "_initial_loss_", None)
        else:
            params = init_params(config.hidden, N_PIXELS, N_CLASSES, seed=config.seed, dtype=dtype)
            history, n_iter, state, fit_seconds = History(), 0, init_state(params), 0.0
            initial_loss = None
            self._rng, self._rng_replay = None, None
        state = OptimizerState(state.first.copy(), state.second.copy(), state.t)
        if initial_loss is None:
            initial_loss = self._initial_loss(params, X, y)
        rng = self._shuffle_rng(config)
        rng_before = rng.bit_generator.state
        learning_rate = learning_rate_at(
            n_iter % config.epochs, config.learning_rate, config.lr_schedule, config.epochs
        )
        batch_size = m if config.batch_size is None else config.batch_size
        started = time.perf_counter()
        order = epoch_order(rng, m, config.batch_size)
        params, loss_sum, correct = self._epoch_fn(params, X, y, config)(
            params, order, batch_size, learning_rate, state
        )
        mean_loss = loss_sum / m
        try:
            check_divergence(mean_loss, initial_loss, n_iter, learning_rate, history)
        except TrainingDiverged:
            rng.bit_generator.state = rng_before
            raise
        fit_seconds += time.perf_counter() - started
        history.append(n_iter, mean_loss, correct / m, float("nan"), fit_seconds)
        if self.callback is not None:
            self.callback(n_iter, mean_loss, correct / m, float("nan"))
        self.fit_seconds_ = fit_seconds
        self._initial_loss_ = initial_loss
        self._set_fitted(params, history, n_iter + 1)
        self._state = state
        return self

    def _check_fitted(self) -> Params:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                "this MLPClassifier instance is not fitted yet; call fit (or load a saved model) "
                "before predict, predict_proba, score or save"
            )
        return self.params_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (m, 10) in the model's dtype for X: (m, 784) uint8 or floats."""
        params = self._check_fitted()
        return self._predict_fn(params, self._check_X(X, params.dtype))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (m,) int64 for X: (m, 784) uint8 or floats in [0, 1]."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` against labels y: (m,) in 0..9."""
        params = self._check_fitted()
        X, y = self._check_Xy(X, y, params.dtype)
        return float(np.mean(self.classes_[np.argmax(self._predict_fn(params, X), axis=1)] == y))

    def log_loss(self, X: Any, y: Any) -> float:
        """Mean cross-entropy of the model on (X, y), computed from logits (no L2 term)."""
        params = self._check_fitted()
        X, y = self._check_Xy(X, y, params.dtype)
        return ref.loss(self._forward(params, X).Z2, y)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model (weights, constructor arguments, history) atomically."""
        params = self._check_fitted()
        estimator = {k: v for k, v in self.get_params().items() if k != "callback"}
        history = self.history_
        metadata = {
            "estimator": estimator,
            "n_iter": self.n_iter_,
            "fit_seconds": self.fit_seconds_,
            "history": {name: list(getattr(history, name)) for name in _HISTORY_FIELDS},
        }
        return save_model(path, params, metadata)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLPClassifier:
        """A fitted estimator from a file written by :meth:`save` (fresh optimizer state)."""
        params, metadata = load_model(path)
        settings = metadata.get("estimator", {})
        if not isinstance(settings, dict):
            raise ModelFileError(f"model file {path}: 'estimator' metadata must be an object")
        settings = {k: v for k, v in settings.items() if k in cls._PARAM_NAMES and k != "callback"}
        settings.update(hidden=params.hidden, dtype=params.dtype.name)
        try:
            estimator = cls(**settings)
            estimator._config()
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"model file {path}: invalid training options: {e}") from e
        history = History()
        recorded = metadata.get("history")
        if isinstance(recorded, dict):
            try:
                for row in zip(*(recorded[name] for name in _HISTORY_FIELDS), strict=True):
                    history.append(*row)
            except (KeyError, TypeError, ValueError) as e:
                raise ModelFileError(f"model file {path}: damaged history: {e}") from e
        n_iter = metadata.get("n_iter", 0)
        estimator._set_fitted(params, history, n_iter if isinstance(n_iter, int) else 0)
        estimator.fit_seconds_ = float(metadata.get("fit_seconds", float("nan")))
        estimator._state, estimator._rng, estimator._rng_replay = None, None, None
        estimator._initial_loss_ = None
        return estimator


_HISTORY_FIELDS = ("step", "loss", "train_accuracy", "dev_accuracy", "seconds")


def _plain_int(value: Any) -> Any:
    """NumPy integers as Python ints (TrainConfig accepts only ``int``); anything else as is."""
    return int(value) if isinstance(value, np.integer) else value


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False
