"""The sweep's Dask cluster: an embedded ``LocalCluster`` or a client of an existing scheduler.

The embedded cluster is started and closed with Ctrl-C held; the client fails fast when the
scheduler is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from .grid import GridError
from .interrupts import sigint_held

WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
CONNECT_TIMEOUT_S = 5


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker before SIGINT is held.

    Starting it unblocks SIGINT in the calling thread (CPython's fix for bpo-33613 unblocks rather
    than restores), and the cluster's loop thread, which would start it otherwise, hands its mask on
    to every worker process it spawns.
    """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def local_cluster(n_workers: int | None = None, exclusive: bool = False) -> tuple[Any, Any]:
    """An embedded cluster: one process per core, one thread each, one Numba/BLAS thread each.

    ``exclusive``: one process whose Numba and BLAS use every core (for timing trials).

    Started with SIGINT held (:func:`sigint_held`): the worker processes start with it blocked
    and ignore it from their preload on, so they never see Ctrl-C; one pressed during the start
    closes the whole cluster and then arrives as ``KeyboardInterrupt``.
    """
    from distributed import Client, LocalCluster

    n_workers = 1 if exclusive else n_workers or os.cpu_count() or 1
    cluster = client = None
    _start_resource_tracker()
    try:
        with sigint_held():  # a Ctrl-C meanwhile arrives at the end of this block
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                env={} if exclusive else dict(WORKER_ENV),
                preload=["mnistbench.sweep._worker_setup"],
                dashboard_address=None,
                silence_logs=logging.CRITICAL,  # the sweep reports lost workers itself
            )
            client = Client(cluster)
            _no_gc_diagnosis()
    except BaseException:
        close_cluster(client, cluster)
        raise
    return client, cluster


def _no_gc_diagnosis() -> None:
    """Stop the in-process scheduler's garbage-collector timing.

    A Ctrl-C that lands in its callback is swallowed there (:mod:`.interrupts` keeps it) and leaves
    the timer broken, printing an ``AssertionError`` at the next collection; the sweep does not log
    it anyway.
    """
    from distributed.gc import disable_gc_diagnosis

    disable_gc_diagnosis(force=True)


def close_cluster(client: Any, cluster: Any) -> None:
    """Close the client and the embedded cluster (either may be None).

    SIGINT is held and Dask's shutdown chatter (heartbeats to closed comms) silenced meanwhile.
    """
    with sigint_held(), dask_logs_silenced():
        for part in (client, cluster):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()


@contextlib.contextmanager
def dask_logs_silenced() -> Iterator[None]:
    """Dask's own log lines off while the block runs.

    The sweep reports lost workers and a lost scheduler itself (Dask would log them as errors,
    reconnection attempts included).

    Dask's logging configuration gives ``distributed`` and some of its children handlers of
    their own that do not propagate, so the handlers are what is turned down.
    """
    handlers = {
        handler
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if name.split(".")[0] == "distributed" and isinstance(logger, logging.Logger)
        for handler in logger.handlers
    }
    levels = {handler: handler.level for handler in handlers}
    for handler in handlers:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in levels.items():
            handler.setLevel(level)


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
