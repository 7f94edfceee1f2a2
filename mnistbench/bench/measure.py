"""Measuring: the timed cases, interleaved rounds, roofline peaks and JIT compile times.

Every case is checked against the reference before it is timed (a wrong kernel is refused);
rounds are interleaved (every case once per round) so drift on a shared machine hits all alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    """One timed workload: a variant of the registry on one dtype and input kind."""

    name: str
    engine: str
    dtype: str
    input_dtype: str
    key: str = field(repr=False, default="")  # the worker's name for it (:mod:`.isolated`)
    flops: float = 0.0
    bytes: float = 0.0
    times: list[float] = field(default_factory=list)
    process: str = ""  # the system whose worker process(es) timed it
    keys: list[str] = field(default_factory=list)  # one per process it is timed in
    times_by_process: list[list[float]] = field(default_factory=list)


def measure_peaks(threads: int) -> dict[str, float]:
    """Peak matmul GFLOP/s per dtype and copy bandwidth in GB/s, best of a few tries."""
    peaks: dict[str, float] = {}
    n = 2048
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        a = rng.random((n, n)).astype(dtype)
        b = rng.random((n, n)).astype(dtype)
        a @ b
        best = min(_seconds(lambda a=a, b=b: a @ b) for _ in range(5))
        peaks[f"gflops_{np.dtype(dtype).name}"] = 2 * n**3 / best / 1e9
    src = np.ones(64 * 2**20 // 8)  # 64 MiB, far beyond the caches
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_seconds(lambda: np.copyto(dst, src)) for _ in range(5))
    peaks["copy_gbps"] = 2 * src.nbytes / best / 1e9  # read + write
    return peaks


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


COMPILE_PROBE = """
import json, sys, time
import numpy as np
started = time.perf_counter()
from mnistbench import kernels
from mnistbench.reference.model import init_params
times = {"import": time.perf_counter() - started}
rng = np.random.default_rng(0)
X8 = rng.integers(0, 256, (64, 784)).astype(np.uint8)
Y = rng.integers(0, 10, 64)
for name, dtype, X in (("float64", np.float64, X8 / 255.0),
                       ("float32", np.float32, (X8 / 255.0).astype(np.float32)),
                       ("uint8->float32", np.float32, X8)):
    started = time.perf_counter()
    kernels.train(X, Y, kernels.TrainConfig(epochs=1, batch_size=16, dtype=np.dtype(dtype).name))
    kernels.fused_step(init_params(10, seed=0, dtype=dtype), X, Y, 0.1)
    kernels.make_predictions(X, init_params(10, seed=0, dtype=dtype))
    times[name] = time.perf_counter() - started
print(json.dumps(times))
"""


def measure_compile_times() -> dict[str, dict[str, float]]:
    """Seconds to first result per dtype in fresh processes: cold (no cache) and cached.

    Each includes compiling everything a training run and a prediction use for that dtype.
    """

    def probe(env: dict[str, str]) -> dict[str, float]:
        out = subprocess.run(
            [sys.executable, "-c", COMPILE_PROBE],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **env},
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as cache_dir:
        cold = probe({"MNISTBENCH_NUMBA_CACHE": "0"})
        probe({"NUMBA_CACHE_DIR": cache_dir})  # populate a private cache
        cached = probe({"NUMBA_CACHE_DIR": cache_dir})
    return {"cold": cold, "cached": cached}


PAUSE = 0.15  # seconds before each timed call; OpenBLAS workers spin ~0.1 s after a call


def machine_cpu_seconds() -> float | None:
    """CPU seconds every process on the machine has used (all cores; Linux ``/proc/stat``)."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """How much CPU other processes took while a block ran: ``share`` is their CPU seconds over
    the block's wall time times the core count (0 on an otherwise idle machine, 1 when they kept
    every core busy); None where ``/proc/stat`` is missing. ``ours()`` gives the CPU seconds of
    the processes doing the measuring (default: this one; the bench adds its workers').
    """

    def __init__(self, ours: Callable[[], float] = time.process_time) -> None:
        self.ours = ours

    def __enter__(self) -> OtherLoad:
        self.machine, self.ours_before, self.wall = (
            machine_cpu_seconds(),
            self.ours(),
            time.perf_counter(),
        )
        return self

    def __exit__(self, *exc) -> None:
        machine = machine_cpu_seconds()
        wall = time.perf_counter() - self.wall
        if machine is None or self.machine is None or wall <= 0:
            self.share = None
            return
        others = (machine - self.machine) - (self.ours() - self.ours_before)
        self.share = max(0.0, others / (wall * (os.cpu_count() or 1)))


def stats(times: list[float]) -> dict[str, float]:
    """Median, min, max and interquartile range in milliseconds of ``times`` (seconds)."""
    ms = np.array(times) * 1e3
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": median, "min_ms": ms.min(), "max_ms": ms.max(), "iqr_ms": q3 - q1}
