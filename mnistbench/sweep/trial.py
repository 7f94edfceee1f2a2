"""One trial: fit the estimator with a setting, score it, and report what happened.

:func:`run_trial` runs on a Dask worker (or in the client for ``--serial``); it never raises for
a failing setting: the exception or the divergence is the trial's ``error``.
"""

from __future__ import annotations

import math
import socket
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .params import iteration_name, make_estimator

__all__ = ["TrialData", "run_trial", "warm_kernels", "warm_settings"]

WARM_ROWS = 256
MAX_WARM_FITS = 8


@dataclass(frozen=True)
class TrialData:
    """Train/dev split (X: (m, 784) uint8, y: (m,) int64) and an optional official test set."""

    X: np.ndarray
    y: np.ndarray
    X_dev: np.ndarray
    y_dev: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def has_test(self) -> bool:
        """Whether a test set was given."""
        return self.X_test is not None


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def _numba_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _set_numba_threads(threads: int | None) -> None:
    if threads is None:
        return
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def run_trial(
    key: str, index: int, params: dict[str, Any], data: TrialData, threads: int | None = 1
) -> dict[str, Any]:
    """Fit on the training rows; dev (and test) accuracy, seconds, epochs, where, and any error."""
    _set_numba_threads(threads)
    record: dict[str, Any] = {
        "trial": index,
        "trial_key": key,
        "dev_accuracy": math.nan,
        "test_accuracy": math.nan,
        "train_seconds": math.nan,
        "n_iter": -1,
        "threads": _numba_threads(),
        "machine": socket.gethostname(),
        "worker": _worker_address(),
        "error": "",
    }
    try:
        estimator = make_estimator(params)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(data.X, data.y)
        record["train_seconds"] = time.perf_counter() - started
        record["n_iter"] = int(getattr(estimator, "n_iter_", -1))
        loss = float(getattr(estimator, "loss_", 0.0))
        if not math.isfinite(loss):
            record["error"] = f"diverged: final training loss is {loss}"
            return record
        record["dev_accuracy"] = float(estimator.score(data.X_dev, data.y_dev))
        if data.has_test:
            record["test_accuracy"] = float(estimator.score(data.X_test, data.y_test))
    except Exception as e:  # a failing setting is a result, not a reason to stop the sweep
        record["error"] = f"{type(e).__name__}: {e}".strip()[:500]
    return record


def _kernel_signature(point: dict[str, Any]) -> tuple:
    """Categorical values and the depth of tuple values (e.g. layer sizes) of a setting."""
    parts: list[tuple[str, str | int]] = []
    for name, value in sorted(point.items()):
        if isinstance(value, (str, bool)) or value is None:
            parts.append((name, repr(value)))
        elif isinstance(value, tuple):
            parts.append((name, len(value)))
    return tuple(parts)


def warm_settings(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Settings that between them compile every kernel the sweep needs, as one-epoch fits.

    Kernels are specialised by categorical options (dtype, engine, activation, solver, ...) and
    depth, not by sizes, so one setting per distinct combination of those is enough (at most
    :data:`MAX_WARM_FITS`). Batch sizes are capped at :data:`WARM_ROWS`.
    """
    iterations = iteration_name()
    chosen: dict[tuple, dict[str, Any]] = {}
    for point in points:
        signature = _kernel_signature(point)
        if signature not in chosen and len(chosen) < MAX_WARM_FITS:
            warm = dict(point)
            if iterations is not None:
                warm[iterations] = 1
            batch = warm.get("batch_size")
            if isinstance(batch, int) and not isinstance(batch, bool) and batch > WARM_ROWS:
                warm["batch_size"] = WARM_ROWS
            chosen[signature] = warm
    return list(chosen.values())


def warm_kernels(settings: list[dict[str, Any]], X: np.ndarray, y: np.ndarray) -> float:
    """Fit each setting once on (X, y) so the Numba kernels are compiled before timed trials.

    Compiled, or loaded from the on-disk cache; returns the seconds it took. Failures are ignored:
    the real trial records them.
    """
    started = time.perf_counter()
    for setting in settings:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                make_estimator(setting).fit(X, y)
        except Exception:  # the trial itself will report this setting's error
            continue
    return time.perf_counter() - started
