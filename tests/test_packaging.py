"""A regular (non-editable) install holds the three layers under one mnistbench package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a pip install: 5-6 s on 2 cores
def test_regular_install_imports_from_outside_the_repo(tmp_path):
    # Build from a copy so that setuptools' build/ and *.egg-info never land in the work tree.
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__")
    for folder in ("reference", "kernels", "mnistbench"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (site / "mnistbench" / "kernels" / "_jit_seed.py").is_file()
    assert (site / "mnistbench" / "reference" / "model.py").is_file()
    assert not (site / "kernels").exists(), "no top-level 'kernels' module may be installed"
    assert not (site / "reference").exists()
    assert (site / "mnistbench" / "estimator" / "_classifier.py").is_file()
    assert (site / "mnistbench" / "cli" / "train.py").is_file()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import mnistbench, mnistbench.kernels as k, mnistbench.reference as r; "
        "print(k.__file__); print(r.__file__); print(mnistbench.MLPClassifier.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    kernels_file, reference_file, name = out.stdout.split()
    assert kernels_file.startswith(str(site)) and reference_file.startswith(str(site))
    assert name == "MLPClassifier"
