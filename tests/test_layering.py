"""Dependencies point one way: reference <- kernels <- application (mnistbench/) <- tests.

Every module of each layer is read (imports inside functions count too) and checked against what
its layer may import; then each layer is imported in a fresh interpreter to prove that loading it
pulls in nothing from the layers above.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPLICATION = "mnistbench"
LAYERS = {  # folder -> (package, imports it must never make)
    "reference": (
        "mnistbench.reference",
        (
            "numba",
            "llvmlite",
            "torch",
            "sklearn",
            "dask",
            "distributed",
            "argparse",
            "mnistbench.kernels",
            APPLICATION,
        ),
    ),
    "kernels": (
        "mnistbench.kernels",
        ("argparse", "matplotlib", "torch", "sklearn", "dask", "distributed", APPLICATION),
    ),
    "mnistbench": ("mnistbench", ()),
}
LOWER = ("mnistbench.reference", "mnistbench.kernels")


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path, package: str, root: Path = ROOT) -> set[str]:
    """Absolute names of every module ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = path.relative_to(root).with_suffix("").parts[1:]
    here = [*package.split("."), *parts][:-1]  # relative imports start at the module's package
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str, banned: tuple[str, ...]) -> bool:
    for prefix in banned:
        if prefix == APPLICATION:
            # the application package itself, but not the lower layers nested under its name
            if (name == APPLICATION or name.startswith(APPLICATION + ".")) and not any(
                name == lower or name.startswith(lower + ".") for lower in LOWER
            ):
                return True
        elif name == prefix or name.startswith(prefix + "."):
            return True
    return False


@pytest.mark.parametrize("folder", ["reference", "kernels"])
def test_lower_layers_never_import_upward(folder):
    package, banned = LAYERS[folder]
    offenders = {}
    for path in _modules(folder):
        bad = sorted(n for n in _imports(path, package) if _forbidden(n, banned))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"{folder}/ imports what its layer may not: {offenders}"


def test_the_check_itself_catches_an_upward_import(tmp_path):
    bad = tmp_path / "kernels" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("from mnistbench.estimator import MLPClassifier\nimport matplotlib.pyplot\n")
    names = _imports(bad, "mnistbench.kernels", root=tmp_path)
    banned = LAYERS["kernels"][1]
    assert {n for n in names if _forbidden(n, banned)} >= {
        "mnistbench.estimator",
        "matplotlib.pyplot",
    }
    assert not _forbidden("mnistbench.kernels.checks", banned)
    assert not _forbidden("mnistbench.reference.model", banned)


def test_relative_imports_resolve_to_their_package():
    names = _imports(ROOT / "kernels" / "training.py", "mnistbench.kernels")
    assert "mnistbench.kernels._jit_seed" in names or "mnistbench.kernels" in names
    assert "mnistbench.kernels.checks" in names


PROBE = """
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
print(" ".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    ("package", "must_not_load"),
    [
        ("mnistbench.reference", ("numba", "mnistbench.kernels", "mnistbench.estimator")),
        (
            "mnistbench.kernels",
            (
                "torch",
                "sklearn",
                "matplotlib",
                "mnistbench.estimator",
                "mnistbench.cli",
                "mnistbench.bench",
                "mnistbench.variants",
                "mnistbench.bench.variants",
            ),
        ),
    ],
)
def test_importing_a_layer_loads_nothing_from_above(package, must_not_load):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, package],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert not {
        m for m in loaded for banned in must_not_load if m == banned or m.startswith(banned + ".")
    }
