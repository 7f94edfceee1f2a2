"""The estimator in a model file: its weights, labels, parameters and training record.

:func:`save_estimator` and :func:`load_estimator` (behind ``MLPClassifier.save``/``load``) on
top of :mod:`mnistbench.model_files`, which reads and writes the file format itself.
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnistbench.model_files import (
    ModelFileError,
    history_from_dict,
    history_to_dict,
    read_model,
    save_model,
)

from ._progress import Progress
from ._state import ModelState
from ._validation import ACTIVATIONS, architecture

if TYPE_CHECKING:
    from ._classifier import MLPClassifier

__all__ = ["load_estimator", "save_estimator"]


def save_estimator(estimator: MLPClassifier, path: str | os.PathLike[str]) -> Path:
    """Write a fitted ``MLPClassifier``: weights, labels, parameters and training record."""
    settings = estimator.get_params(deep=False)
    settings = {
        name: _json_value(name, value) for name, value in settings.items() if name != "callback"
    }
    metadata = {
        "estimator": settings,
        "n_iter": estimator.n_iter_,
        "t": estimator.t_,
        "fit_seconds": estimator.fit_seconds_,
        "history": history_to_dict(estimator.history_),
        "loss_curve": estimator.loss_curve_,
        "best_loss": estimator.best_loss_,
        "validation_scores": estimator.validation_scores_,
        "best_validation_score": estimator.best_validation_score_,
        "n_classes": len(estimator.classes_),
        "output": estimator.out_activation_,
    }
    # The file holds one label per output: a single class fills both of its two outputs.
    classes = np.resize(estimator.classes_, estimator.params_.n_out)
    return save_model(
        path,
        estimator.params_,
        metadata,
        classes=classes,
        feature_names=getattr(estimator, "feature_names_in_", None),
        activation=ACTIVATIONS[estimator.activation],
        batch_norm=estimator.batch_norm_state_,
    )


def load_estimator(cls: type[MLPClassifier], path: str | os.PathLike[str]) -> MLPClassifier:
    """Return a fitted ``cls`` (MLPClassifier) from a model file, with fresh optimizer state."""
    model = read_model(path)
    where, metadata, params = f"model file {path}", model.metadata, model.params
    settings = metadata.get("estimator", {})
    if not isinstance(settings, dict):
        raise ModelFileError(f"{where}: 'estimator' metadata must be an object")
    if metadata["format_version"] == 1:
        settings = _renamed(settings)
    names = set(cls().get_params(deep=False)) - {"callback"}
    settings = {name: value for name, value in settings.items() if name in names}
    hidden = params.sizes[1:-1]
    saved = settings.get("hidden_layer_sizes")
    spelled = np.atleast_1d(saved if saved is not None else ())
    if tuple(spelled.tolist()) != hidden:  # the weights decide; keep the spelling
        settings["hidden_layer_sizes"] = hidden
    elif isinstance(saved, list):
        settings["hidden_layer_sizes"] = tuple(saved)
    if settings.get("dtype") is not None:  # None (follow X) stays: the weights' dtype is kept
        settings["dtype"] = params.dtype.name
    try:
        estimator = cls(**settings)
        estimator._validate_params()
        architecture(estimator.hidden_layer_sizes, estimator.activation, estimator.engine)
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{where}: invalid training options: {e}") from e
    history = history_from_dict(metadata.get("history"), where)
    n_iter = metadata.get("n_iter", len(history))
    n_iter = n_iter if isinstance(n_iter, int) else 0
    progress = Progress(
        state=None,
        rng=None,
        initial_loss=math.nan,
        epochs_done=n_iter,
        samples_seen=metadata.get("t", 0) or 0,
        loss_curve=list(metadata.get("loss_curve") or history.loss),
    )
    progress.best_loss = metadata.get("best_loss", min(progress.loss_curve, default=math.inf))
    progress.validation_scores = metadata.get("validation_scores")
    progress.best_validation_score = metadata.get("best_validation_score")
    # Trained with dropout, L1 or batch norm: on the layer-stack kernels, and kept to them.
    layer_stack = (
        bool(estimator.l1) or bool(estimator.batch_norm) or bool(np.any(estimator.dropout))
    )
    n_classes = metadata.get("n_classes", len(model.classes))
    if not isinstance(n_classes, int) or n_classes not in (1, len(model.classes)):
        raise ModelFileError(f"{where}: n_classes must be 1 or {len(model.classes)}")
    estimator.classes_ = model.classes[:n_classes]
    output = metadata.get("output", "softmax")
    if output not in ("softmax", "logistic"):
        raise ModelFileError(f"{where}: output must be 'softmax' or 'logistic', got {output!r}")
    estimator._output = output
    estimator.n_features_in_ = params[0].shape[1]
    if model.feature_names is not None:
        estimator.feature_names_in_ = model.feature_names.astype(object)
    seconds = metadata.get("fit_seconds", math.nan)
    state = ModelState(params, model.batch_norm)
    estimator._set_fitted(state, layer_stack, history, progress, n_iter, float(seconds))
    return estimator


def _json_value(name: str, value: Any) -> Any:
    """Return a parameter value as JSON.

    Tuples as lists, dtypes by name, numpy scalars as Python; a RandomState (not storable) as
    None.
    """
    if name == "hidden_layer_sizes":
        return int(value) if isinstance(value, Integral) else [int(v) for v in value]
    if name == "dtype":
        return None if value is None else np.dtype(value).name
    if name == "random_state" and not isinstance(value, Integral):
        return None
    if isinstance(value, (set, frozenset)):  # augment={"affine", "noise"}
        return sorted(value)
    if name == "dropout" and not isinstance(value, Real):  # one rate per hidden layer
        return [float(v) for v in np.ravel(value)]
    return value.item() if isinstance(value, np.generic) else value


def _renamed(old: dict[str, Any]) -> dict[str, Any]:
    """Return version 1 parameters in the estimator's current names.

    Version 1 had hidden, epochs, seed, l2, optimizer, learning_rate; its models used the seed
    initialisation.
    """
    new = {k: v for k, v in old.items() if k in ("lr_schedule", "engine", "log_interval")}
    new["init"] = "seed"
    renames = {"epochs": "max_iter", "seed": "random_state", "learning_rate": "learning_rate_init"}
    new.update({renames[k]: v for k, v in old.items() if k in renames})
    optimizer, batch_size = old.get("optimizer", "sgd"), old.get("batch_size")
    new["solver"] = "adam" if optimizer == "adam" else optimizer
    if optimizer in ("sgd", "momentum"):
        new.update(
            solver="sgd", momentum=0.9 if optimizer == "momentum" else 0.0, nesterovs_momentum=False
        )
    if isinstance(batch_size, int):
        new["batch_size"] = batch_size
        new["alpha"] = old.get("l2", 0.0) * batch_size  # l2 = alpha / batch_size
    return new
