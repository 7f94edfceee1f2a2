"""A whole sweep: check the grid and the outputs, load the data, run the trials, write the rows.

Everything that can be refused (unknown names, invalid values, an unwritable or foreign results
file, missing data, an unreachable scheduler) is refused before the first trial runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import params as estimator_params
from .cluster import close_cluster, connect, local_cluster
from .grid import Grid, GridError, Trial
from .interrupts import interrupts_kept
from .results import ResultsFile
from .runner import Progress, Summary, run_dask, run_serial
from .trial import TrialData

DEFAULT_DEV_SIZE = 1000

__all__ = ["SweepOptions", "load_trial_data", "plan", "run_sweep"]


@dataclass
class SweepOptions:
    """Where to run and what to read and write (the CLI flags)."""

    out: Path
    resume: bool = False
    retry_failed: bool = False
    data: str | None = None
    test_data: str | None = None
    dev_size: int = DEFAULT_DEV_SIZE
    scheduler: str | None = None
    workers: int | None = None
    serial: bool = False
    exclusive: bool = False
    progress_tty: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()[:16]


def load_trial_data(
    data: str | None, test_data: str | None, dev_size: int
) -> tuple[TrialData, dict[str, Any]]:
    """Train/dev split of ``data`` and the official test set, with their fingerprint context.

    ``data`` defaults to the embedded digits; the test set is ``test_data``, or the t10k files of an
    IDX folder.
    """
    from mnistbench.reference.data import load_data, load_idx_dir, train_dev_split

    train = load_data(data, split="train")
    if train.y is None:
        raise GridError(f"{train.name} has no labels; a sweep needs a labeled data set")
    if not 0 < dev_size < len(train):
        raise GridError(f"--dev-size must be in 1..{len(train) - 1}, got {dev_size}")
    test = None
    if test_data is not None:
        test = load_data(test_data, split="test")
        if test.y is None:
            raise GridError(f"--test-data {test_data}: no labels, so no test accuracy")
    elif data is not None and Path(data).is_dir():
        try:
            test = load_idx_dir(data, "test")
        except ValueError:
            test = None
    X, y, X_dev, y_dev = train_dev_split(train.X, train.y, dev_size=dev_size, seed=0)
    trial_data = TrialData(
        X, y, X_dev, y_dev, None if test is None else test.X, None if test is None else test.y
    )
    test_digest = None
    if test is not None:
        assert test.y is not None  # --test-data's labels are checked above; IDX files have them
        test_digest = _digest(test.X, test.y)
    context = {"train": _digest(train.X, train.y), "dev_size": dev_size, "test": test_digest}
    return trial_data, context


def plan(grid: Grid) -> list[Trial]:
    """The grid's trials, every name and every setting checked against the estimator."""
    estimator_params.check_names(grid.names)
    trials = grid.trials_for(estimator_params.seed_name())
    estimator_params.check_points([t.params for t in trials])
    return trials


def run_sweep(grid: Grid, options: SweepOptions) -> tuple[Summary, ResultsFile]:
    """Run the grid's trials not already in the results file; returns what happened."""
    trials = plan(grid)
    seed = estimator_params.seed_name()
    data, context = load_trial_data(options.data, options.test_data, options.dev_size)
    n_train = len(data.y)
    if grid.include_seed:
        point = estimator_params.seed_point(n_train)
        extra = grid.trials_for(seed, [point], start=len(trials))
        estimator_params.check_points([point])
        trials += [t for t in extra if t.key not in {u.key for u in trials}]
    names = tuple(dict.fromkeys(name for t in trials for name in t.params))
    fingerprint = grid.fingerprint(context)
    defaults = estimator_params.defaults()
    results = ResultsFile(
        options.out,
        fingerprint,
        names,
        defaults=defaults,
        resume=options.resume,
        retry_failed=options.retry_failed,
    )
    with results:  # the file's lock, released when the sweep ends however it ends
        todo = [t for t in trials if t.key not in results.done]

        def sink(trial: Trial, record: dict[str, Any]) -> None:
            record["seed_setting"] = estimator_params.is_seed_setting(
                trial.params, n_train, defaults
            )
            results.append(record, trial.params)

        progress = Progress(len(todo), tty=options.progress_tty)
        try:
            with interrupts_kept():  # a Ctrl-C that Python swallows still stops the sweep
                if not todo:
                    summary = Summary()
                elif options.serial:
                    summary = run_serial(todo, data, sink, progress, threads=None)
                else:
                    summary = _run_on_cluster(todo, data, sink, progress, options)
        finally:
            progress.close()
    summary.total = len(trials)
    summary.skipped = len(trials) - len(todo)
    return summary, results


def _run_on_cluster(
    todo: list[Trial], data: TrialData, sink, progress: Progress, options: SweepOptions
) -> Summary:
    cluster = None
    if options.scheduler is not None:
        client = connect(options.scheduler)
    else:
        client, cluster = local_cluster(options.workers, exclusive=options.exclusive)
    try:
        return run_dask(client, todo, data, sink, progress, threads=1, exclusive=options.exclusive)
    finally:
        close_cluster(client, cluster)
