"""The CPU the kernels are compiled for, and the code variant chosen for it, once, at import.

Two choices depend on the instruction set, and both are made before Numba compiles anything:

* **Vector width.** LLVM's tuning for Intel's AVX-512 parts (Skylake-SP through Sapphire Rapids)
  prefers 256-bit vectors, so on those CPUs the GEMM tiles ran at half the FMA width the chip
  has. Where the CPU has AVX-512F, ``-prefer-256-bit`` is added to the CPU features Numba
  compiles for, so LLVM vectorizes with 512-bit registers (AMD's Zen 4/5 tuning already does).
  ``MNISTBENCH_VECTOR_BITS=256`` asks for 256-bit vectors instead (``+prefer-256-bit``), e.g.
  where 512-bit code lowers the clock more than it gains.
* **Register tile.** The forward product's 8 x 3 tile keeps 24 accumulators plus 3 weight
  vectors in registers: that fits AVX-512's 32 vector registers but not AVX2's 16, where LLVM
  spills. Without AVX-512 a 4 x 3 tile (12 + 3) is compiled instead.

Numba reads its CPU features once, when the first function is decorated in the process, and
keys its on-disk cache by them, so the variant (a compile-time constant derived from the
features) and the cached machine code always agree. ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES``
compile for another CPU (the tests build the AVX2 variant on an AVX-512 host that way); when
they are set, the features are taken as given, except that ``-prefer-256-bit`` is appended
where they have AVX-512F and do not mention ``prefer-256-bit``. If some other code decorated a
Numba function before ``mnistbench.kernels`` was imported, the features are already fixed and
:func:`target` reports the width that was really compiled for.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass

import llvmlite.binding as ll
import numba
from numba.core.registry import cpu_target

PREFER_256 = "prefer-256-bit"
VECTOR_BITS_VARIABLE = "MNISTBENCH_VECTOR_BITS"


@dataclass(frozen=True)
class Target:
    """What the kernels are compiled for.

    Attributes
    ----------
    cpu : str
        LLVM's CPU name (``znver5``, ``sapphirerapids``, ...).
    isa : str
        ``"avx512"``, ``"avx2"`` or ``"baseline"`` (neither: SSE or another architecture).
    vector_bits : int
        The vector width LLVM is tuned to use for the kernels' loops.
    tile : str
        The forward product's register tile, rows x units.
    features_changed : bool
        Whether mnistbench changed the CPU features Numba compiles for.
    """

    cpu: str
    isa: str
    vector_bits: int
    tile: str
    features_changed: bool

    def as_dict(self) -> dict[str, object]:
        """The fields, for the bench fingerprint and the JSON report."""
        return asdict(self)


def _has(features: str, name: str) -> bool:
    return f"+{name}" in features.split(",")


def _isa(features: str) -> str:
    if _has(features, "avx512f"):
        return "avx512"
    if _has(features, "avx2") and _has(features, "fma"):
        return "avx2"
    return "baseline"


def _wanted_features(features: str) -> str:
    """``features`` with the vector-width preference appended, on AVX-512 CPUs."""
    if _isa(features) != "avx512" or PREFER_256 in features:
        return features
    asked = os.environ.get(VECTOR_BITS_VARIABLE, "512").strip() or "512"
    if asked not in ("256", "512"):
        warnings.warn(
            f"{VECTOR_BITS_VARIABLE}={asked!r} is neither 256 nor 512; using 512-bit vectors",
            RuntimeWarning,
            stacklevel=2,
        )
    return f"{features},{'+' if asked == '256' else '-'}{PREFER_256}"


def _codegen_started() -> bool:
    """Whether Numba's CPU codegen (and so its CPU features) is already fixed in this process."""
    return "_toplevel_target_context" in cpu_target.__dict__


def _configure() -> bool:
    """Set Numba's CPU features for the kernels, if it is not too late; True if changed."""
    if _codegen_started():
        return False
    given = numba.config.CPU_FEATURES
    features = given if given is not None else ll.get_host_cpu_features().flatten()
    wanted = _wanted_features(features)
    if wanted == features:
        return False
    numba.config.CPU_FEATURES = wanted
    if numba.config.CPU_NAME is None:
        numba.config.CPU_NAME = ll.get_host_cpu_name()
    return True


def _vector_bits(isa: str, features: str, cpu: str) -> int:
    if isa == "avx512":
        if _has(features, PREFER_256):
            return 256
        if f"-{PREFER_256}" in features.split(","):
            return 512
        # LLVM's tuning decides: AMD's Zen 4/5 tuning uses 512-bit vectors, Intel's 256.
        return 512 if cpu.startswith("znver") else 256
    return 256 if isa == "avx2" else 128


_CHANGED = _configure()


def _effective() -> tuple[str, str]:
    """(CPU name, features) that Numba's codegen compiles for."""
    codegen = cpu_target.target_context.codegen()
    return codegen._get_host_cpu_name(), codegen._tm_features


def _choose() -> Target:
    cpu, features = _effective()
    isa = _isa(features)
    return Target(
        cpu=cpu,
        isa=isa,
        vector_bits=_vector_bits(isa, features, cpu),
        tile="8x3" if isa == "avx512" else "4x3",
        features_changed=_CHANGED,
    )


TARGET = _choose()
# The forward tile's rows: a compile-time constant of the jitted GEMM (see _gemm.dot_rows).
WIDE_TILE = TARGET.tile == "8x3"


def target() -> Target:
    """The CPU, instruction set, vector width and register tile the kernels are compiled for."""
    return TARGET
