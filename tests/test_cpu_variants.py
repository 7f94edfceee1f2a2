"""The CPU-dependent kernel variants (kernels/_cpu.py): each one this host can run is compiled
(through Numba's ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES``, in a subprocess with a cache of its
own), checked to be the variant asked for (instruction set, vector width of the GEMM's FMAs,
register tile) and run against the reference by the seed and layer-stack kernel tests.

Variants: AVX-512 with 512-bit vectors (the default on AVX-512 CPUs, Intel's tuning included),
AVX-512 held to 256-bit vectors (``MNISTBENCH_VECTOR_BITS=256``) and AVX2 (16 vector registers,
4 x 3 tile). A host without AVX-512 skips the AVX-512 ones (it cannot execute them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import llvmlite.binding as ll
import numpy as np
import pytest

from mnistbench.kernels import _cpu, _gemm

ROOT = Path(__file__).resolve().parent.parent
HOST_FEATURES = ll.get_host_cpu_features().flatten()
HOST_ISA = _cpu._isa(HOST_FEATURES)

PROBE = """
import json, re
import numpy as np
from mnistbench.kernels import _cpu, _gemm
A = np.ones((16, 64), np.float32); W = np.ones((6, 64), np.float32)
Z = np.zeros((16, 6), np.float32)
_gemm.dot_rows(A, W, np.zeros(6, np.float32), Z, 0, 16, 0, 6, np.zeros((8, 3), np.float32))
assert (Z == 64).all(), Z
asm = "".join(_gemm.dot_rows.inspect_asm().values())
fma = re.findall(r"vfmadd\\w+\\s+[^\\n]*?%([xyz])mm", asm)
print(json.dumps(dict(_cpu.target().as_dict(), fma={k: fma.count(k) for k in "xyz"},
                      function=_gemm.dot_rows.py_func.__name__)))
"""


def _without_avx512(features: str) -> str:
    return ",".join("-" + f[1:] if f.startswith("+avx512") else f for f in features.split(","))


VARIANTS = {
    # name: (extra environment, isa the host needs, expected target fields, widest FMA register)
    "avx512-zmm": (
        {"NUMBA_CPU_NAME": "sapphirerapids", "NUMBA_CPU_FEATURES": HOST_FEATURES},
        "avx512",
        {"isa": "avx512", "vector_bits": 512, "tile": "8x3", "function": "dot_rows_8x3"},
        "z",
    ),
    "avx512-ymm": (
        {
            "NUMBA_CPU_NAME": "sapphirerapids",
            "NUMBA_CPU_FEATURES": HOST_FEATURES,
            "MNISTBENCH_VECTOR_BITS": "256",
        },
        "avx512",
        {"isa": "avx512", "vector_bits": 256, "tile": "8x3", "function": "dot_rows_8x3"},
        "y",
    ),
    "avx2": (
        {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": _without_avx512(HOST_FEATURES)},
        "avx2",
        {"isa": "avx2", "vector_bits": 256, "tile": "4x3", "function": "dot_rows_4x3"},
        "y",
    ),
}


def _runnable(isa: str) -> bool:
    return HOST_ISA == "avx512" or (HOST_ISA == "avx2" and isa == "avx2")


def _env(extra: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_CPU", "MNISTBENCH_V"))}
    return dict(env, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"), **extra)


def test_host_target_matches_its_features():
    target = _cpu.target()
    assert target.isa == HOST_ISA or _cpu._isa(os.environ.get("NUMBA_CPU_FEATURES", "")) == (
        target.isa
    )
    assert target.tile == ("8x3" if target.isa == "avx512" else "4x3")
    assert _gemm.dot_rows.py_func.__name__ == f"dot_rows_{target.tile}"
    assert target.vector_bits in (128, 256, 512)


@pytest.mark.parametrize("tile", ["8x3", "4x3"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_both_tiles_compute_the_same_product(tile, dtype):
    """Each tile against NumPy on edge-heavy shapes; at one vector width they agree bit for bit
    (each output is the same k-reduction whatever the tile)."""
    rng = np.random.default_rng(3)
    A, W = rng.normal(size=(13, 37)).astype(dtype), rng.normal(size=(11, 37)).astype(dtype)
    b = rng.normal(size=11).astype(dtype)
    out = {}
    for name in ("8x3", "4x3"):
        Z = np.full((13, 11), np.nan, dtype)
        getattr(_gemm, f"dot_rows_{name}")(A, W, b, Z, 1, 12, 2, 10, np.zeros((8, 3), dtype))
        out[name] = Z
    # Higham's bound for a K-term dot product (plus the bias), against float64 arithmetic.
    K, eps = A.shape[1] + 1, np.finfo(dtype).eps
    A64, W64, b64 = A.astype(np.float64), W.astype(np.float64), b.astype(np.float64)
    bound = K * eps / (1 - K * eps) * (np.abs(A64) @ np.abs(W64).T + np.abs(b64))
    error = np.abs(out[tile].astype(np.float64) - (A64 @ W64.T + b64))
    assert (error[1:12, 2:10] <= bound[1:12, 2:10]).all(), error.max()
    assert np.isnan(out[tile][0]).all() and np.isnan(out[tile][:, :2]).all()  # nothing else
    np.testing.assert_array_equal(out["8x3"], out["4x3"])


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_compiles_as_asked_and_matches_the_reference(variant, tmp_path):
    extra, isa, expected, register = VARIANTS[variant]
    if not _runnable(isa):
        pytest.skip(f"this host ({HOST_ISA}) cannot execute {isa} code")
    env = _env(extra, tmp_path)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    facts = json.loads(probe.stdout.strip().splitlines()[-1])
    for key, value in expected.items():
        assert facts[key] == value, (key, facts)
    fma = facts["fma"]
    widest = max((k for k in "xyz" if fma[k]), default=None)
    assert widest == register, fma
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "test_kernels_network.py"),
            str(ROOT / "tests" / "test_kernels.py"),
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-k",
            "float32 and (forward_backward_match_reference and (relu or tanh) "
            "or epoch_matches_reference and relu or fused_gradients_match)",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert re.search(r"\d+ passed", tests.stdout), tests.stdout[-500:]


@pytest.mark.parametrize("hidden", [1, 2, 5, 7, 10, 12])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_both_seed_tiles_compute_the_first_layer(hidden, dtype):
    """The seed's first-layer block (4 rows) in both tiles against float64 NumPy, within
    Higham's dot-product bound; every hidden count exercises the clamped last units."""
    from mnistbench.kernels import _jit_seed_tiles as tiles

    rng = np.random.default_rng(hidden)
    W1, xb = rng.normal(size=(hidden, 50)).astype(dtype), rng.normal(size=(4, 50)).astype(dtype)
    K, eps = W1.shape[1], np.finfo(dtype).eps
    want = xb.astype(np.float64) @ W1.astype(np.float64).T
    bound = K * eps / (1 - K * eps) * (np.abs(xb).astype(np.float64) @ np.abs(W1).T)
    for variant in (tiles.layer1_block_4x2, tiles.layer1_block_4x5):
        z1 = np.full((4, hidden), np.nan, dtype)
        variant(W1, xb, z1)
        assert (np.abs(z1 - want) <= bound).all(), variant.py_func.__name__
    assert tiles.layer1_block.py_func.__name__ == (
        "layer1_block_4x5" if _cpu.WIDE_TILE else "layer1_block_4x2"
    )


@pytest.mark.parametrize(
    ("asked", "appended", "warns"),
    [("", "-", False), ("512", "-", False), ("256", "+", False), ("128", "-", True)],
)
def test_the_vector_width_variable(asked, appended, warns, monkeypatch):
    monkeypatch.setenv("MNISTBENCH_VECTOR_BITS", asked)
    features = "+avx,+avx2,+fma,+avx512f"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wanted = _cpu._wanted_features(features)
    assert wanted == f"{features},{appended}prefer-256-bit"
    assert bool(caught) == warns
    assert _cpu._wanted_features("+avx,+avx2,+fma") == "+avx,+avx2,+fma"  # no AVX-512: as given
    assert _cpu._wanted_features(f"{features},+prefer-256-bit").endswith("+prefer-256-bit")
