"""Running trials: on a Dask cluster (embedded ``LocalCluster`` or ``--scheduler``) or serially.

The data is loaded once and scattered to every worker (``broadcast=True``), so tasks carry only
a reference to it. The Numba kernels are compiled once in the client process (the on-disk cache
is written there) and then loaded by every worker before any trial is submitted. At most one
trial per worker thread is in flight, so "running" in the progress line is exact and Ctrl-C
cancels little.

A trial's own errors never leave :func:`run_trial` (they are its record), so a task that fails
failed for the cluster: its worker died, or the scattered data went with the workers that held
it. Such a trial is submitted again (the data scattered again first if it is gone), up to
:data:`MAX_ATTEMPTS` times; a trial lost that often, or every trial left when the cluster has
had no worker for :data:`WORKER_WAIT_S`, is counted as lost and gets no row, so ``--resume``
runs it.

Ctrl-C (SIGINT) is held while the embedded cluster starts and while it closes, in this process
and in every process started meanwhile (the workers inherit the blocked signal), and arrives as
``KeyboardInterrupt`` once the cluster is whole or gone: a half-started cluster is never left
behind and no worker dies of it. It is held too while a finished trial's row is written, and a
Ctrl-C that Python swallowed (see :mod:`.interrupts`) is found within :data:`POLL_S`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import interrupts
from .cluster import dask_logs_silenced
from .grid import Trial
from .trial import WARM_ROWS, TrialData, run_trial, warm_kernels, warm_settings

MAX_ATTEMPTS = 3  # tries of a trial whose task the cluster loses (worker died, data lost)
WORKER_WAIT_S = 20  # how long a cluster left with no worker is waited for
POLL_S = 0.1  # how often the wait for trials looks for a swallowed Ctrl-C

__all__ = [
    "Summary",
    "run_dask",
    "run_serial",
]

Sink = Callable[[Trial, dict[str, Any]], None]


@dataclass
class Summary:
    """What a sweep did: trials run, failed, skipped (already in the file), and the time."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    lost: int = 0
    lost_reason: str = ""
    interrupted: bool = False
    warm_seconds: float = 0.0
    seconds: float = 0.0


class Progress:
    """A tqdm bar with done/running/failed on a terminal; one line per trial otherwise."""

    def __init__(self, total: int, tty: bool | None = None) -> None:
        self.total, self.done, self.failed, self.running = total, 0, 0, 0
        self.bar = None
        if tty if tty is not None else sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="trial", file=sys.stderr, dynamic_ncols=True)

    def update(self, running: int, record: dict[str, Any] | None = None) -> None:
        self.running = running
        if record is not None:
            self.done += 1
            self.failed += bool(record["error"])
        if self.bar is not None:
            self.bar.set_postfix(running=self.running, failed=self.failed, refresh=False)
            self.bar.update(self.done - self.bar.n)
        elif record is not None:
            outcome = record["error"] or f"dev accuracy {record['dev_accuracy']:.4f}"
            print(
                f"trial {self.done}/{self.total} done ({self.running} running, "
                f"{self.failed} failed): #{record['trial']} {outcome}",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _one_worker_per_host(client: Any) -> list[str]:
    """The worker with the most threads on each machine (by host name)."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    chosen: dict[str, str] = {}
    for address, info in sorted(workers.items()):
        host = info.get("host") or address.rpartition(":")[0]
        best = chosen.get(host)
        if best is None or info.get("nthreads", 1) > workers[best].get("nthreads", 1):
            chosen[host] = address
    return sorted(chosen.values())


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()[:300]


def _warm_locally(trials: list[Trial], data: TrialData) -> tuple[list[dict], Any, Any, float]:
    settings = warm_settings([t.params for t in trials])
    X, y = data.X[:WARM_ROWS], data.y[:WARM_ROWS]
    return settings, X, y, warm_kernels(settings, X, y)


def run_serial(
    trials: list[Trial], data: TrialData, sink: Sink, progress: Progress, threads: int | None
) -> Summary:
    """Every trial one after another in this process (no Dask)."""
    summary = Summary(total=len(trials))
    *_, summary.warm_seconds = _warm_locally(trials, data)
    started = time.perf_counter()
    try:
        for trial in trials:
            interrupts.check()
            progress.update(1)
            record = run_trial(trial.key, trial.index, trial.params, data, threads)
            with interrupts.sigint_held():  # the row is written whole, then Ctrl-C counts
                sink(trial, record)
                summary.done += 1
                summary.failed += bool(record["error"])
            progress.update(0, record)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.seconds = time.perf_counter() - started
    return summary


def run_dask(
    client: Any,
    trials: list[Trial],
    data: TrialData,
    sink: Sink,
    progress: Progress,
    threads: int | None = 1,
    exclusive: bool = False,
) -> Summary:
    """Trials as Dask tasks, at most one per worker thread at a time, recorded as they finish.

    ``exclusive``: at most one trial per machine at a time, on one worker of each machine, with
    all the Numba threads that worker has, so ``train_seconds`` never shares cores. A task the
    cluster loses is submitted again (see the module docstring); Ctrl-C cancels what runs.
    """
    summary = Summary(total=len(trials))
    started = time.perf_counter()
    try:
        with dask_logs_silenced():
            _run_tasks(client, trials, data, sink, progress, threads, exclusive, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.seconds = time.perf_counter() - started - summary.warm_seconds
    return summary


def _completed(finished: Any) -> Iterator[Any]:
    """The futures of ``finished`` (a Dask ``as_completed``) as they finish.

    Meanwhile it looks for a swallowed Ctrl-C (:func:`interrupts.check`) every :data:`POLL_S`
    seconds.
    """
    while not finished.is_empty():
        batch = finished.next_batch(block=False)
        if not batch:
            interrupts.check()
            time.sleep(POLL_S)
        yield from batch


class _ClusterGone(Exception):
    """The cluster has had no worker for :data:`WORKER_WAIT_S`, or its scheduler is gone."""


def _ask(call: Callable[[], Any]) -> Any:
    """A call that needs the scheduler; a lost scheduler ends the sweep.

    The client gives up reconnecting after Dask's connect timeout, raising ``OSError``; the sweep
    then ends as lost to the cluster.
    """
    try:
        return call()
    except TimeoutError:  # a time limit of the call itself (an OSError too): the caller's
        raise
    except OSError as e:
        raise _ClusterGone(f"the scheduler cannot be reached ({_describe(e)})") from None


def _run_tasks(
    client: Any,
    trials: list[Trial],
    data: TrialData,
    sink: Sink,
    progress: Progress,
    threads: int | None,
    exclusive: bool,
    summary: Summary,
) -> None:
    from distributed import as_completed

    def warm_up() -> None:
        started = time.perf_counter()
        settings, X_warm, y_warm, _ = _warm_locally(trials, data)
        warmed = [
            client.submit(warm_kernels, settings, X_warm, y_warm, workers=[w], pure=False)
            for w in _ask(client.nthreads)
        ]
        _ask(lambda: client.gather(warmed, errors="skip"))
        summary.warm_seconds = time.perf_counter() - started
        interrupts.check()

    def workers_present() -> None:
        try:
            _ask(lambda: client.wait_for_workers(1, timeout=WORKER_WAIT_S))
        except (TimeoutError, asyncio.TimeoutError):
            raise _ClusterGone(f"the cluster has had no worker for {WORKER_WAIT_S} s") from None

    data_future = None

    def scattered(check: bool = False) -> Any:
        """The data on the workers.

        ``check``: ask the scheduler whether a worker still holds it, and scatter it again if none
        does (they died with it).
        """
        nonlocal data_future
        if data_future is not None and check:
            try:  # a future cancelled with the data raises here
                gone = data_future.status != "finished" or not client.who_has([data_future]).get(
                    data_future.key
                )
            except Exception:
                gone = True
            if gone:
                data_future = None
        for attempt in range(MAX_ATTEMPTS):
            if data_future is not None:
                return data_future
            workers_present()
            try:
                data_future = client.scatter(data, broadcast=True, hash=False)
            except Exception as e:  # the workers went while it was on its way
                if attempt + 1 == MAX_ATTEMPTS:
                    reason = f"cannot scatter the data to the workers: {_describe(e)}"
                    raise _ClusterGone(reason) from None
        return data_future

    pending = collections.deque(trials)  # lost trials go back to the front
    attempts: collections.Counter[int] = collections.Counter()
    in_flight: dict[Any, Trial] = {}
    finished = as_completed()
    hosts: list[str] = []
    busy: dict[Any, str] = {}

    def submit_more() -> None:
        slots = len(hosts) if exclusive else max(1, sum(_ask(client.nthreads).values()))
        while len(in_flight) < slots:
            where: dict[str, Any] = {}
            if exclusive:
                free = next((w for w in hosts if w not in busy.values()), None)
                if free is None:
                    return
                where = {"workers": [free], "allow_other_workers": False}
            if not pending:
                return
            shared = scattered()  # before the trial leaves the queue: _ClusterGone counts it
            trial = pending.popleft()
            future = client.submit(
                run_trial,
                trial.key,
                trial.index,
                trial.params,
                shared,
                None if exclusive else threads,
                key=f"trial-{trial.index}-{trial.key}-{attempts[trial.index]}",
                pure=False,
                **where,
            )
            if exclusive:
                busy[future] = where["workers"][0]
            in_flight[future] = trial
            finished.add(future)

    try:
        warm_up()
        if exclusive:
            hosts[:] = _ask(lambda: _one_worker_per_host(client))
        submit_more()
        progress.update(len(in_flight))
        for future in _completed(finished):
            trial = in_flight.pop(future)
            busy.pop(future, None)
            try:
                record = future.result()
            except Exception as e:  # lost with its worker or its data: the cluster's failure
                attempts[trial.index] += 1
                if attempts[trial.index] < MAX_ATTEMPTS:
                    pending.appendleft(trial)
                else:
                    summary.lost += 1
                    summary.lost_reason = (
                        f"trial #{trial.index} was lost {MAX_ATTEMPTS} times, last: {_describe(e)}"
                    )
                scattered(check=True)
                if exclusive:
                    hosts[:] = _ask(lambda: _one_worker_per_host(client))
                submit_more()
                progress.update(len(in_flight))
                continue
            with interrupts.sigint_held():  # the row is written whole, then Ctrl-C counts
                sink(trial, record)
                summary.done += 1
                summary.failed += bool(record["error"])
            submit_more()
            progress.update(len(in_flight), record)
    except _ClusterGone as e:
        _cancel(client, in_flight)
        summary.lost += len(in_flight) + len(pending)
        summary.lost_reason = str(e)
    except KeyboardInterrupt:
        _cancel(client, in_flight)
        raise


def _cancel(client: Any, futures: Any) -> None:
    """Cancel the trials in flight, if the scheduler can still be told."""
    with contextlib.suppress(Exception):
        client.cancel(list(futures))
