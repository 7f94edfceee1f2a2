"""What the estimator accepts: parameter names from ``get_params()``, values by its validation.

Nothing here hard-codes the estimator's parameter list: names come from
``MLPClassifier().get_params()`` and values are checked by constructing the estimator and
running its own validation (scikit-learn's ``_validate_params`` where it has one).
"""

from __future__ import annotations

import difflib
import warnings
from typing import Any

from .grid import GridError, canonical

SEED_NAMES = ("random_state", "seed")
ITERATION_NAMES = ("max_iter", "epochs")
NOT_SWEPT = ("callback", "verbose")

__all__ = [
    "check_names",
    "check_points",
    "defaults",
    "estimator_class",
    "iteration_name",
    "make_estimator",
    "seed_name",
]


def estimator_class() -> type:
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
    """The estimator's own parameter validation, or a one-epoch fit on 10 rows without one."""
    if hasattr(estimator, "_validate_params"):
        estimator._validate_params()
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
