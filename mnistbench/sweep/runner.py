"""Running trials: on a Dask cluster (embedded ``LocalCluster`` or ``--scheduler``) or serially.

The data is loaded once and scattered to every worker (``broadcast=True``), so tasks carry only
a reference to it. The Numba kernels are compiled once in the client process (the on-disk cache
is written there) and then loaded by every worker before any trial is submitted. At most one
trial per worker thread is in flight, so "running" in the progress line is exact and Ctrl-C
cancels little.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .grid import GridError, Trial
from .trial import WARM_ROWS, TrialData, run_trial, warm_kernels, warm_settings

WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
CONNECT_TIMEOUT_S = 5

__all__ = ["Summary", "connect", "local_cluster", "run_dask", "run_serial"]

Sink = Callable[[Trial, dict[str, Any]], None]


@dataclass
class Summary:
    """What a sweep did: trials run, failed, skipped (already in the file), and the time."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
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


def local_cluster(n_workers: int | None = None, exclusive: bool = False) -> tuple[Any, Any]:
    """An embedded cluster: one process per core, one thread each, one Numba/BLAS thread each;
    ``exclusive``: one process whose Numba and BLAS use every core (for timing trials)."""
    from distributed import Client, LocalCluster

    n_workers = 1 if exclusive else n_workers or os.cpu_count() or 1
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        env={} if exclusive else dict(WORKER_ENV),
        preload=["mnistbench.sweep._worker_setup"],
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A client of an existing cluster; an unreachable scheduler fails within ``2 * timeout`` s.

    A refused or unresolvable address fails at once; a server that accepts the connection but
    does not answer as a Dask scheduler fails after ``timeout`` (Dask's own handshake has no
    time limit, so the scheduler's identity is asked for first, under one).
    """
    from distributed import Client

    if "://" not in address and ":" not in address:
        raise GridError(f"--scheduler expects tcp://host:port, got {address!r}")
    _probe(address, timeout)
    try:
        identity = asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout))
    except Exception as e:  # refused, timed out, or garbage from a server that is not Dask
        reason = str(e) or type(e).__name__
        raise GridError(
            f"cannot connect to the Dask scheduler at {address}: {reason} "
            "(is a Dask scheduler listening there?)"
        ) from None
    if not isinstance(identity, dict) or identity.get("type") != "Scheduler":
        raise GridError(f"{address} is not a Dask scheduler")
    try:
        client = Client(address, timeout=timeout)
    except Exception as e:
        raise GridError(f"cannot connect to the Dask scheduler at {address}: {e}") from None
    if not client.nthreads():
        try:
            client.wait_for_workers(1, timeout=timeout)
        except Exception:
            client.close()
            raise GridError(f"the Dask scheduler at {address} has no workers") from None
    return client


async def _identity(address: str, timeout: float) -> Any:
    from distributed.core import rpc

    async with rpc(address, timeout=timeout) as scheduler:
        return await scheduler.identity()


def _probe(address: str, timeout: float) -> None:
    """Fail at once on a refused or unresolvable TCP address (Dask would retry until timeout)."""
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp", "tls"):
        return
    host, _, port = rest.rpartition(":")
    try:
        port_number = int(port)
    except ValueError:
        raise GridError(f"--scheduler {address}: expected tcp://host:port") from None
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", port_number), timeout):
            pass
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise GridError(f"cannot connect to the Dask scheduler at {address}: {reason}") from None


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


def _fail(trial: Trial, error: BaseException) -> dict[str, Any]:
    """The record of a trial whose task itself failed (worker died, cancelled, ...)."""
    return {
        "trial": trial.index,
        "trial_key": trial.key,
        "dev_accuracy": float("nan"),
        "test_accuracy": float("nan"),
        "train_seconds": float("nan"),
        "n_iter": -1,
        "threads": -1,
        "machine": "",
        "worker": "",
        "error": f"{type(error).__name__}: {error}".strip()[:500],
    }


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
            progress.update(1)
            record = run_trial(trial.key, trial.index, trial.params, data, threads)
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
    all the Numba threads that worker has, so ``train_seconds`` never shares cores.
    """
    from distributed import as_completed

    summary = Summary(total=len(trials))
    settings, X_warm, y_warm, summary.warm_seconds = _warm_locally(trials, data)
    started = time.perf_counter()
    workers = list(client.nthreads())
    warmed = [
        client.submit(warm_kernels, settings, X_warm, y_warm, workers=[w], pure=False)
        for w in workers
    ]
    client.gather(warmed, errors="skip")
    summary.warm_seconds += time.perf_counter() - started
    started = time.perf_counter()
    data_future = client.scatter(data, broadcast=True)
    queue = iter(trials)
    in_flight: dict[Any, Trial] = {}
    finished = as_completed()

    hosts = _one_worker_per_host(client) if exclusive else []
    busy: dict[Any, str] = {}

    def submit_more() -> None:
        slots = len(hosts) if exclusive else max(1, sum(client.nthreads().values()))
        while len(in_flight) < slots:
            trial = next(queue, None)
            if trial is None:
                return
            where = {}
            if exclusive:
                free = next(w for w in hosts if w not in busy.values())
                where = {"workers": [free], "allow_other_workers": False}
            future = client.submit(
                run_trial,
                trial.key,
                trial.index,
                trial.params,
                data_future,
                None if exclusive else threads,
                key=f"trial-{trial.index}-{trial.key}",
                pure=False,
                **where,
            )
            if exclusive:
                busy[future] = where["workers"][0]
            in_flight[future] = trial
            finished.add(future)

    try:
        submit_more()
        progress.update(len(in_flight))
        for future in finished:
            trial = in_flight.pop(future)
            busy.pop(future, None)
            try:
                record = future.result()
            except Exception as e:  # the task died with its worker, or could not run
                record = _fail(trial, e)
            sink(trial, record)
            summary.done += 1
            summary.failed += bool(record["error"])
            submit_more()
            progress.update(len(in_flight), record)
    except KeyboardInterrupt:
        summary.interrupted = True
        client.cancel(list(in_flight))
    summary.seconds = time.perf_counter() - started
    return summary
