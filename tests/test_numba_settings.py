"""Numba compile options are set in one module, ``kernels/_numba.py`` (as STUMPY checks its own).

Every source file of the package and the benchmarks is parsed; none but the settings module may
call ``numba.njit``/``numba.jit`` or import them from ``numba``. Then the options every kernel was
compiled with are read back from the dispatchers.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import numba
import pytest

import mnistbench.kernels
from mnistbench.kernels import _numba

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("kernels", "reference", "mnistbench", "benchmarks")
SETTINGS = ROOT / "kernels" / "_numba.py"
DECORATORS = {"njit", "jit", "generated_jit"}
# Documented in kernels/_numba.py and STYLE.md: no "nnan"/"ninf", so NaN/Inf stay detectable.
DOCUMENTED_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
# Compiled without fast-math (kernels/_numba.py says why): the optimizer steps, and every
# augmentation kernel (float64 arithmetic that reproduces scipy.ndimage's).
EXACT = {
    "mnistbench.kernels._jit_seed.optimizer_update",
    "mnistbench.kernels._jit_step.penalized",
    "mnistbench.kernels._jit_step.step_row",
}
EXACT_MODULES = {"mnistbench.kernels._jit_augment"}


def _exact(name: str) -> bool:
    return name in EXACT or name.rsplit(".", 1)[0] in EXACT_MODULES


def direct_numba_decorators(path: Path) -> list[str]:
    """``line: code`` of each place ``path`` reaches numba.njit/jit itself (aliases included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = {"numba"}  # names bound to the numba module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name == "numba")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("numba", "numba.core.decorators"):
            found += [
                f"{node.lineno}: from numba import {a.name}"
                for a in node.names
                if a.name in DECORATORS
            ]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in DECORATORS
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_file_but_the_settings_module_calls_numba_njit():
    offenders = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != SETTINGS and (found := direct_numba_decorators(path)):
                offenders[str(path.relative_to(ROOT))] = found
    assert not offenders, f"use kernels/_numba.py's njit/inline instead: {offenders}"
    assert direct_numba_decorators(SETTINGS), "the settings module itself must be seen to call it"


@pytest.mark.parametrize(
    "source",
    [
        "import numba\n\n@numba.njit(fastmath=True)\ndef f(x):\n    return x\n",
        "import numba as nb\n\nf = nb.jit(lambda x: x)\n",
        "from numba import njit\n",
        "from numba import prange, jit as fast\n",
    ],
)
def test_the_check_catches_a_planted_direct_call(tmp_path, source):
    planted = tmp_path / "kernels" / "_planted.py"
    planted.parent.mkdir()
    planted.write_text(source)
    assert direct_numba_decorators(planted)
    clean = tmp_path / "kernels" / "_clean.py"
    clean.write_text(
        "import numba\nfrom numba import prange\n\nfrom ._numba import inline, njit\n\n"
        "@njit\ndef f(x):\n    return numba.get_num_threads()\n"
    )
    assert not direct_numba_decorators(clean)


def test_the_fastmath_flags_are_the_documented_set():
    assert set(_numba.FASTMATH) == DOCUMENTED_FASTMATH
    assert _numba.options()["fastmath"] == DOCUMENTED_FASTMATH
    assert _numba.options()["error_model"] == "numpy"


def _kernels() -> list[tuple[str, object]]:
    """Every Numba dispatcher defined in a mnistbench.kernels module, by qualified name."""
    found = []
    for info in pkgutil.iter_modules(mnistbench.kernels.__path__, "mnistbench.kernels."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                isinstance(value, numba.core.dispatcher.Dispatcher)
                and value.__module__ == info.name
            ):
                found.append((f"{info.name}.{name}", value))
    return found


def test_every_kernel_is_compiled_with_the_settings_modules_options():
    kernels = _kernels()
    assert len(kernels) > 50, [name for name, _ in kernels]
    wrong = {}
    for name, dispatcher in kernels:
        shared = _numba.options(exact=_exact(name))
        options = dispatcher.targetoptions
        got = {k: options.get(k) for k in shared}
        if got != shared:
            wrong[name] = got
    assert not wrong, f"kernels compiled with other options than kernels/_numba.py's: {wrong}"
    assert EXACT <= {name for name, _ in kernels}


def test_exact_kernels_have_no_fast_math():
    assert _numba.options(exact=True)["fastmath"] == set()
    assert {k: v for k, v in _numba.options(exact=True).items() if k != "fastmath"} == {
        k: v for k, v in _numba.options().items() if k != "fastmath"
    }
