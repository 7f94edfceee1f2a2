"""The machine fingerprint written into every bench JSON and printed at the top of the report.

Two results compare only when :func:`identity` agrees: the same CPU model and SIMD flags, cores,
memory, architecture and BLAS kernel. Software versions and thread counts are recorded as well;
a version change is what a comparison is often for, so it does not refuse, it is shown.

The BLAS kernel matters on its own: OpenBLAS picks its kernels by CPU unless
``OPENBLAS_CORETYPE`` forces one (some machines of this project's kind set ``Haswell`` on an
AVX-512 CPU), so the kernel (threadpoolctl's ``architecture``) and those variables are recorded.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni")
IDENTITY_KEYS = ("cpu", "cpu_flags", "cores", "memory_gib", "arch", "blas_kernel")
BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE", "MKL_DEBUG_CPU_TYPE")
PACKAGES = ("numpy", "numba", "llvmlite", "torch", "jax", "optax", "threadpoolctl")


def _cpuinfo() -> tuple[str, list[str]]:
    """CPU model name and the :data:`SIMD_FLAGS` it has, from /proc/cpuinfo (Linux)."""
    model: str | None = None
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return model, [flag for flag in SIMD_FLAGS if flag in flags]


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def blas_info() -> list[dict[str, object]]:
    """Every BLAS/OpenMP pool threadpoolctl sees: library, version, kernel, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = (
        "user_api",
        "internal_api",
        "version",
        "architecture",
        "num_threads",
        "threading_layer",
        "filepath",
    )
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


def numpy_blas(pools: list[dict[str, object]]) -> dict[str, object]:
    """The pool of the BLAS NumPy itself links (SciPy, loaded by Numba, may bring a second)."""
    blas = [pool for pool in pools if pool.get("user_api") == "blas"]
    ours = [pool for pool in blas if "numpy" in str(pool.get("filepath"))]
    return (ours or blas or [{}])[0]


def blas_line(pool: dict[str, object]) -> str:
    """e.g. ``openblas 0.3.31 Haswell, 2 threads`` (library, version, kernel, threads)."""
    if not pool:
        return "unknown"
    return (
        f"{pool.get('internal_api')} {pool.get('version')} "
        f"{pool.get('architecture') or '?'}, {pool.get('num_threads')} threads"
    )


def fingerprint(threads: int, threading_layer: str | None = None) -> dict[str, object]:
    """What a timing depends on besides the code: hardware, OS, library versions, BLAS, threads.

    ``threading_layer``: the Numba threading layer the timed kernels ran on (the bench's Numba
    worker reports it); without it, this process's, if it started one.
    """
    import numpy as np  # noqa: F401  (loads the BLAS, so threadpoolctl can see it)

    cpu, flags = _cpuinfo()
    pools = blas_info()
    layer = threading_layer
    if layer is None:
        try:
            import numba

            layer = numba.threading_layer()
        except (ImportError, ValueError):
            layer = "not initialised"
    blas = numpy_blas(pools)
    return {
        "cpu": cpu,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **{package: _version(package) for package in PACKAGES},
        "threads": threads,
        "threading_layer": layer,
        "blas_kernel": f"{blas.get('internal_api')} {blas.get('architecture')}" if blas else None,
        "blas": blas_line(blas),
        "thread_pools": pools,
        "blas_env": {name: os.environ[name] for name in BLAS_VARIABLES if name in os.environ},
    }


def identity(machine: dict) -> dict[str, object]:
    """The fields two results must share to be compared (see the module docstring)."""
    return {key: machine.get(key) for key in IDENTITY_KEYS}


def format_fingerprint(machine: dict) -> list[str]:
    """Two or three report lines: hardware and OS, software and BLAS, forced BLAS variables."""
    flags = " ".join(machine.get("cpu_flags") or []) or "no SIMD flags read"
    lines = [
        f"machine: {machine['cpu']} ({flags}), {machine['cores']} cores, "
        f"{machine.get('memory_gib')} GiB, {machine.get('os')} {machine.get('arch')}",
        f"software: Python {machine['python']}, numpy {machine['numpy']}, numba "
        f"{machine['numba']}, llvmlite {machine.get('llvmlite')}, torch "
        f"{machine.get('torch') or 'not installed'}; BLAS {machine.get('blas')}; "
        f"{machine['threads']} threads, Numba layer {machine['threading_layer']}",
    ]
    if machine.get("blas_env"):
        pinned = " ".join(f"{name}={value}" for name, value in machine["blas_env"].items())
        lines.append(f"BLAS environment: {pinned}")
    return lines
