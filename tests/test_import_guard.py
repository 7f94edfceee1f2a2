"""The folders kernels/ and reference/ are installed as mnistbench.kernels and
mnistbench.reference. Imported by their bare names from the repository root (where the folders
are on sys.path) they fail with a message naming the package, instead of loading a second copy
of every module; benchmarks/, which asv imports by its bare name, loads no such copy.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose working directory is the repository root."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("module", "package"),
    [
        ("kernels", "mnistbench.kernels"),
        ("kernels.model", "mnistbench.kernels"),
        ("reference", "mnistbench.reference"),
        ("reference.network", "mnistbench.reference"),
    ],
)
def test_bare_folder_import_fails_naming_the_package(module, package):
    done = _python(f"import {module}")
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: "), done.stderr
    assert f"import {package}, not {module.split('.')[0]}" in last


def test_bare_folder_import_loads_no_second_copy():
    code = (
        "import sys\n"
        "for name in ('kernels', 'reference'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError:\n"
        "        pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kernels', 'reference')))\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_packages_import_from_the_repository_root():
    code = (
        "import mnistbench.kernels as k, mnistbench.reference as r\n"
        "print(k.__name__, r.__name__, k.forward_prop.__module__, r.forward_prop.__module__)\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "mnistbench.kernels",
        "mnistbench.reference",
        "mnistbench.kernels.model",
        "mnistbench.reference.model",
    ]


def test_benchmarks_by_bare_name_loads_the_installed_packages_only():
    code = (
        "import sys, benchmarks.common\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kernels', 'reference')))\n"
        "print('mnistbench.reference.model' in sys.modules)\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"]
