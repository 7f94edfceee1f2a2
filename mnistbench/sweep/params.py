"""What the estimator accepts: parameter names from ``get_params()``, values by its validation.

Nothing here hard-codes the estimator's parameter list: names come from
``MLPClassifier().get_params()`` and values are checked by constructing the estimator and
running its own validation: scikit-learn's ``_validate_params``, then every check ``fit`` makes
of a setting before it looks at the data (``mnistbench.estimator.check_settings``).
"""

from __future__ import annotations

import difflib
import math
import warnings
from typing import Any

from .grid import GridError, canonical

SEED_NAMES = ("random_state", "seed")
# What ``mnistbench train`` runs with no options: the seed notebook's network (784 -> 10 ReLU ->
# 10 softmax, full-batch gradient descent at 0.1 for 500 iterations, uniform [-0.5, 0.5) init),
# in the estimator's parameter names; plus full batch (``batch_size`` >= the training rows).
# Stopping rules (``n_iter_no_change``, ``tol``) are not part of the setting, but the seed point
# a sweep adds (``include_seed``) sets ``n_iter_no_change = max_iter`` to run every iteration.
SEED_SETTING = {
    "hidden_layer_sizes": (10,),
    "activation": "relu",
    "solver": "sgd",
    "momentum": 0.0,
    "learning_rate": "constant",
    "learning_rate_init": 0.1,
    "lr_schedule": "constant",
    "max_iter": 500,
    "alpha": 0.0,
    "init": "seed",
}
ITERATION_NAMES = ("max_iter", "epochs")
NOT_SWEPT = ("callback", "verbose")

__all__ = [
    "check_names",
    "check_points",
    "defaults",
    "estimator_class",
    "is_seed_setting",
    "iteration_name",
    "make_estimator",
    "seed_name",
    "seed_point",
]


def estimator_class() -> type:
    """The estimator class trials train (imported when first needed)."""
    from mnistbench.estimator import MLPClassifier

    return MLPClassifier


def defaults() -> dict[str, Any]:
    """The estimator's parameters and their default values."""
    return estimator_class()().get_params(deep=False)


def seed_name() -> str | None:
    """The parameter that seeds initialisation and shuffling (None if there is none)."""
    return next((name for name in SEED_NAMES if name in defaults()), None)


def iteration_name() -> str | None:
    """The parameter giving the number of epochs (iterations for full-batch training)."""
    return next((name for name in ITERATION_NAMES if name in defaults()), None)


def check_names(names: tuple[str, ...] | list[str]) -> None:
    """Refuse names the estimator does not take (with close matches as suggestions)."""
    known = defaults()
    for name in names:
        if name in NOT_SWEPT and name in known:
            raise GridError(f"{name!r} cannot be swept")
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise GridError(
                f"unknown parameter {name!r} for MLPClassifier{hint} "
                f"(known: {', '.join(sorted(k for k in known if k not in NOT_SWEPT))})"
            )


def make_estimator(params: dict[str, Any]) -> Any:
    """An estimator with ``params`` set."""
    return estimator_class()(**params)


def check_points(points: list[dict[str, Any]]) -> None:
    """Construct the estimator for every distinct setting and run its parameter validation.

    Raises :class:`GridError` naming the setting and the estimator's message. Values that are
    only wrong for the data (e.g. a batch larger than the training set) pass here and fail at
    fit time, where the sweep records them as failed trials.
    """
    seen = set()
    for point in points:
        text = canonical(point)
        if text in seen:
            continue
        seen.add(text)
        try:
            _validate(make_estimator(point))
        except (TypeError, ValueError) as e:
            shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
            raise GridError(f"invalid value in the grid ({shown}): {e}") from None


def _validate(estimator: Any) -> None:
    """The estimator's own validation of a setting: what ``fit`` checks before the data.

    Types and ranges, then architecture, activation, regularisation and augmentation
    (``mnistbench.estimator.check_settings``); a one-epoch fit on 10 rows for an estimator without
    it.
    """
    if hasattr(estimator, "_validate_params"):
        from mnistbench.estimator import check_settings

        estimator._validate_params()
        check_settings(estimator)
    elif hasattr(estimator, "_config"):
        estimator._config()
    else:
        import numpy as np

        rng = np.random.default_rng(0)
        X = rng.integers(0, 256, (10, 784)).astype(np.uint8)
        y = np.arange(10)
        iterations = iteration_name()
        if iterations is not None:
            estimator.set_params(**{iterations: 1})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, y)


def seed_point(n_train: int) -> dict[str, Any]:
    """The seed's setting as a grid point for ``n_train`` training rows (full batch)."""
    known = defaults()
    point = {k: v for k, v in SEED_SETTING.items() if k in known}
    if "batch_size" in known:
        point["batch_size"] = n_train
    if "n_iter_no_change" in known and "max_iter" in point:
        point["n_iter_no_change"] = point["max_iter"]
    return point


def is_seed_setting(params: dict[str, Any], n_train: int, known: dict[str, Any]) -> bool:
    """True when ``params`` (over the defaults ``known``) is the seed's setting, any seed."""
    effective = {**known, **params}
    for name, wanted in SEED_SETTING.items():
        if name in known and not _same(effective[name], wanted):
            return False
    batch = effective.get("batch_size", n_train)
    return "batch_size" not in known or (
        isinstance(batch, int) and not isinstance(batch, bool) and batch >= n_train
    )


def _same(value: Any, wanted: Any) -> bool:
    """Equal as settings: numbers by value (0 == 0.0), sequences element-wise, else by JSON."""
    if isinstance(value, int) and isinstance(wanted, int) and not isinstance(value, bool):
        return value == wanted
    numbers = (int, float)
    if all(isinstance(v, numbers) and not isinstance(v, bool) for v in (value, wanted)):
        return math.isclose(value, wanted, rel_tol=1e-12, abs_tol=0.0)
    if isinstance(value, int) and not isinstance(value, bool) and isinstance(wanted, tuple):
        value = (value,)  # hidden_layer_sizes=10 means (10,)
    return canonical(value) == canonical(wanted)
