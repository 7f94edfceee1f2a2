"""Measuring: the timed cases, interleaved rounds, roofline peaks and JIT compile times.

Every case is checked against the reference before it is timed (a wrong kernel is refused);
rounds are interleaved (every case once per round) so drift on a shared machine hits all alike.
"""

from __future__ import annotations

import functools
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


# Variables that pin OpenBLAS to an older kernel on some machines of this project's kind
# (``OPENBLAS_CORETYPE=Haswell``: 256-bit on an AVX-512 CPU). The peak the kernels are judged
# against is that of the widest vectors the CPU they are compiled for has, so the peak's process
# drops them, or pins Haswell (AVX2) where the kernels are compiled for an AVX2 CPU on an
# AVX-512 host (``NUMBA_CPU_FEATURES`` emulation, kernels/_cpu.py).
PINNED_BLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def kernels_isa() -> str:
    """``avx512``, ``avx2`` or ``baseline``: what the kernels are compiled for.

    Read from Numba's CPU features (``NUMBA_CPU_FEATURES`` or the host's), found without starting
    Numba.
    """
    import llvmlite.binding as ll

    features = os.environ.get("NUMBA_CPU_FEATURES") or ll.get_host_cpu_features().flatten()
    flags = set(features.split(","))
    if "+avx512f" in flags:
        return "avx512"
    return "avx2" if {"+avx2", "+fma"} <= flags else "baseline"


def measure_peaks(threads: int) -> dict:
    """Peak matmul GFLOP/s per dtype and copy bandwidth in GB/s, best of a few tries.

    Measured in a process of its own whose OpenBLAS runs the kernel of the widest vectors the
    kernels' CPU has (see ``PINNED_BLAS``), with ``threads`` threads; ``blas_kernel`` says
    which kernel that was. Should that process fail, or its product be wrong, the peaks are
    measured here with the inherited settings and ``peak_note`` says so.
    """
    env = {k: v for k, v in os.environ.items() if k not in PINNED_BLAS}
    if kernels_isa() == "avx2":
        env["OPENBLAS_CORETYPE"] = "Haswell"
    command = [sys.executable, "-m", "mnistbench.bench.measure", "peaks", str(threads)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode == 0:
        peaks = json.loads(done.stdout.strip().splitlines()[-1])
        return dict(peaks, blas_env={k: env[k] for k in PINNED_BLAS if k in env})
    peaks = _peaks_here(threads)
    peaks["peak_note"] = (
        f"the peak process failed ({done.stderr.strip().splitlines()[-1:]}); "
        "peaks measured with the inherited OpenBLAS settings"
    )
    return peaks


def _peaks_here(threads: int) -> dict:
    from threadpoolctl import threadpool_info, threadpool_limits

    from .fingerprint import numpy_blas

    peaks: dict = {}
    n = 2048
    rng = np.random.default_rng(0)
    with threadpool_limits(threads):
        for dtype in (np.float64, np.float32):
            a = rng.random((n, n)).astype(dtype)
            b = rng.random((n, n)).astype(dtype)
            check = (a[:64] @ b).astype(np.float64)
            want = a[:64].astype(np.float64) @ b.astype(np.float64)
            if not np.allclose(check, want, rtol=1e-4 if dtype == np.float32 else 1e-12):
                raise RuntimeError(f"the BLAS {np.dtype(dtype).name} product is wrong")
            best = min(_seconds(functools.partial(np.matmul, a, b)) for _ in range(5))
            peaks[f"gflops_{np.dtype(dtype).name}"] = 2 * n**3 / best / 1e9
        blas = numpy_blas(threadpool_info())
    src = np.ones(64 * 2**20 // 8)  # 64 MiB, far beyond the caches
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_seconds(lambda: np.copyto(dst, src)) for _ in range(5))
    peaks["copy_gbps"] = 2 * src.nbytes / best / 1e9  # read + write
    peaks["blas_kernel"] = f"{blas.get('internal_api')} {blas.get('architecture')}"
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
    """How much CPU other processes took while a block ran.

    ``share`` is their CPU seconds over the block's wall time times the core count (0 on an
    otherwise idle machine, 1 when they kept every core busy); None where ``/proc/stat`` is missing.
    ``ours()`` gives the CPU seconds of the processes doing the measuring (default: this one; the
    bench adds its workers').
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


# A row whose slowest round took this much longer than its fastest was timed on an unsteady
# machine: on a 2-vCPU VM, 2-thread epochs were seen switching between full and one-thread
# speed within a process (docs/benchmarks.md), which no load figure shows.
UNSTEADY_SPREAD = 1.25


def unsteady(row: dict) -> bool:
    """Whether a row's slowest round took over :data:`UNSTEADY_SPREAD` times its fastest."""
    return bool(row["min_ms"] > 0 and row["max_ms"] > UNSTEADY_SPREAD * row["min_ms"])


def spread_text(row: dict, spec: str) -> str:
    """A row's ``[min-max]`` in milliseconds, with ``!`` after it where it is unsteady."""
    text = f"[{format(row['min_ms'], spec)}-{format(row['max_ms'], spec)}]"
    return text + ("!" if unsteady(row) else "")


def unsteady_note(rows: list[dict]) -> list[str]:
    """The footnote for the ``!`` marks of a table; empty where no row has one."""
    if not any(unsteady(row) for row in rows):
        return []
    return [
        f"!: its slowest round took over {UNSTEADY_SPREAD:g}x its fastest: the machine was "
        "unsteady while that row ran, so its median and ratios may be off; rerun it"
    ]


if __name__ == "__main__":  # python -m mnistbench.bench.measure peaks THREADS
    if sys.argv[1:2] == ["peaks"]:
        print(json.dumps(_peaks_here(int(sys.argv[2]))))
