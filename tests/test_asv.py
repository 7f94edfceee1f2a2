"""The asv suite cannot silently rot: it must import, validate and run one benchmark."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("asv") is None, reason="asv is not installed")


def _asv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["asv", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_asv_check_finds_no_problems():
    result = _asv("check", "--python=same")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No problems found" in result.stdout


@pytest.mark.slow
def test_asv_smoke_run_of_one_benchmark(tmp_path):
    machine = ["--machine", "mnistbench-test"]
    assert _asv("machine", "--yes", *machine).returncode == 0
    result = _asv(
        "run",
        "--python=same",
        "--quick",
        "--dry-run",
        "--show-stderr",
        *machine,
        "--bench",
        r"bench_inference\.Predict\.time_predict",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "failed" not in output.lower(), output
    assert "time_predict" in output and "ms" in output


@pytest.mark.slow
def test_asv_tracks_the_speedup_over_the_notebook():
    selected = r"SpeedupOverNotebook\.track_speedup_over_notebook\('numba_fused', 'float32'\)"
    result = _asv(
        "run",
        "--python=same",
        "--quick",
        "--dry-run",
        "--show-stderr",
        "--machine",
        "mnistbench-test",
        "--bench",
        selected,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "failed" not in output.lower(), output
    row = next(
        line
        for line in output.splitlines()
        if "numba_fused" in line and "float32" in line and "uint8" not in line
    )
    speedup = float(row.split()[-1])  # a ratio of two medians: a number, not "n/a" or "failed"
    assert math.isfinite(speedup) and speedup > 0, row
