"""Every timed system in a process of its own: the bench's workers.

Two thread pools in one process slow each other: PyTorch's OpenMP team and Numba's workers,
sharing two cores, made the PyTorch loop 2-4x slower in the bench than alone, and the report's
"vs torch" column overstated our lead by as much. So each *system* (``numba``, ``numpy``,
``notebook``, ``torch``, ``torch_compile``, ``jax``, ``sklearn``, ``scipy``) runs in a fresh
``python -m mnistbench.bench.worker`` process with the parent's pinned thread variables, and
the parent only orchestrates:

* ``Workers.add(key, system, factory, **kwargs)`` has the system's worker import ``factory``
  (``"module:function"``), call it with ``kwargs`` to build the case (data, weights, the check
  against the reference: a wrong variant is refused there) and run it twice untimed (JIT, caches,
  thread pools; for ``torch.compile`` and ``jax.jit`` the first call is the compilation, reported
  apart, the second catches a recompilation for the remainder batch's shape);
* ``Workers.time(key)`` has it run the case once, timing it with ``time.perf_counter`` inside
  the worker (no pipe latency in the sample), with its process CPU seconds beside;
* while one worker runs, every other waits blocked on its pipe, using no CPU.

:func:`time_isolated` runs the interleaved rounds (a fresh seeded order each round, a pause
before each call, as :func:`.measure.time_rounds`). ``Workers.facts(system)`` says what a worker
process has loaded (Numba's threading layer, torch, jax, ...): the report records it per system,
and the tests prove with it that no peer ran beside Numba's thread pool.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .measure import PAUSE

SYSTEMS = ("numba", "numpy", "notebook", "torch", "torch_compile", "jax", "sklearn", "scipy")


class WorkerError(RuntimeError):
    """A worker refused or failed to build or run a case (the message is the worker's)."""


@dataclass
class _Worker:
    system: str
    process: subprocess.Popen
    keys: list[str] = field(default_factory=list)

    def call(self, *message):
        try:
            pickle.dump(message, self.process.stdin)
            self.process.stdin.flush()
            status, payload = pickle.load(self.process.stdout)
        except (BrokenPipeError, EOFError, pickle.UnpicklingError):
            code = self.process.wait()
            raise WorkerError(
                f"the {self.system} worker died (exit {code}) during "
                f"{message[0]} {message[1] if len(message) > 1 else ''}"
            ) from None
        if status == "error":
            raise WorkerError(payload)
        return payload


class Workers:
    """Worker processes, one per system and replica, started on first use.

    ``add(..., replica=1)`` starts a second process of the same system. A context manager closes
    them all.

    ``env`` (default: this process's environment) is what the workers start with: the thread
    variables pinned by ``mnistbench bench``, plus ``XLA_FLAGS`` limiting JAX to ``threads``.
    """

    def __init__(self, threads: int, env: dict[str, str] | None = None) -> None:
        self.threads = threads
        self.env = dict(os.environ if env is None else env)
        self.env["XLA_FLAGS"] = _xla_flags(self.env.get("XLA_FLAGS", ""), threads)
        self._workers: dict[str, _Worker] = {}
        self._system_of: dict[str, str] = {}
        self.builds: dict[str, dict] = {}

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _worker(self, system: str, replica: int = 0) -> _Worker:
        if system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
        name = process_name(system, replica)
        if name not in self._workers:
            process = subprocess.Popen(
                [sys.executable, "-m", "mnistbench.bench.worker", system, str(self.threads)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self.env,
            )
            self._workers[name] = _Worker(name, process)
        return self._workers[name]

    def add(self, key: str, system: str, factory: str, replica: int = 0, **kwargs) -> dict:
        """Build case ``key`` in ``system``'s worker and run it twice untimed.

        Returns the build record (``build_s``, ``warmup_s`` of the first call, ``second_s``, and the
        factory's ``info``). ``replica`` > 0 builds it in another process of the same system (a run
        can time a case in several processes and see how much processes differ).
        """
        if key in self._system_of:
            raise ValueError(f"case {key!r} is already added")
        worker = self._worker(system, replica)
        record = worker.call("build", key, factory, kwargs)
        worker.keys.append(key)
        self._system_of[key] = worker.system
        self.builds[key] = record
        return record

    def run(self, key: str, warmup: float = 0.0) -> dict:
        """Run case ``key`` once: ``{"wall_s", "cpu_s", "result"}`` measured in its worker.

        A short case (its build record's ``short``) first runs back to back for ``warmup`` s.
        """
        return self._workers[self._system_of[key]].call("run", key, warmup)

    def system_of(self, key: str) -> str:
        """The process that times ``key``: its system, ``#replica`` appended for replicas."""
        return self._system_of[key]

    @property
    def systems(self) -> list[str]:
        """Names of the systems that have a worker process."""
        return list(self._workers)

    def facts(self, system: str) -> dict:
        """What ``system``'s worker process has loaded, its pid and thread settings."""
        return self._workers[system].call("facts")

    def cpu_seconds(self) -> float:
        """CPU seconds all workers have used so far (for the busy-machine measure)."""
        return sum(worker.call("facts")["cpu_s"] for worker in self._workers.values())

    def close(self) -> None:
        """Ask every worker to exit and wait for it; a worker already gone is skipped."""
        for worker in self._workers.values():
            stdin = worker.process.stdin
            assert stdin is not None  # every worker starts with stdin=PIPE
            try:
                pickle.dump(("exit",), stdin)
                stdin.close()
            except (BrokenPipeError, OSError):
                pass
        for worker in self._workers.values():
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        self._workers.clear()


def process_name(system: str, replica: int = 0) -> str:
    """The name of a system's process: ``system`` for the first, ``system#n`` for replica n."""
    return system if replica == 0 else f"{system}#{replica}"


def _xla_flags(flags: str, threads: int) -> str:
    """``flags`` (the user's XLA_FLAGS) plus the flags that limit XLA's CPU pool to ``threads``."""
    extra = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
    extra += f"intra_op_parallelism_threads={threads}"
    return f"{flags} {extra}".strip()


def time_isolated(
    workers: Workers, keys: list[str], repeats: int, pause: float = PAUSE, seed: int = 0
) -> dict[str, list[float]]:
    """Seconds per round for each case, over ``repeats`` rounds.

    Each round visits the cases in a fresh seeded order with ``pause`` seconds before each timed
    call, so the pools the previous call woke, in whatever process, have stopped spinning. A long
    case sleeps the pause; a short one (under a quarter second) spends it running back to back in
    its worker, so its timed call finds threads awake and data warm, as inside a training loop (see
    ``worker.WARM_BELOW``).
    """
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {key: [] for key in keys}
    for _ in range(repeats):
        for index in rng.permutation(len(keys)):
            key = keys[index]
            if workers.builds[key].get("short"):
                times[key].append(workers.run(key, warmup=pause)["wall_s"])
            else:
                time.sleep(pause)
                times[key].append(workers.run(key)["wall_s"])
    return times


def process_facts(workers: Workers) -> dict[str, dict]:
    """System -> facts, for the report's JSON."""
    return {system: workers.facts(system) for system in workers.systems}
