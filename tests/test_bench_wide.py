"""``mnistbench bench --widths ... --depths ...``: the wide/deep section's rows and arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mnistbench.bench.measure import UNSTEADY_SPREAD, spread_text, unsteady
from mnistbench.bench.wide import architecture, epoch_flops, format_section


def test_architecture_halves_per_layer_down_to_ten_units():
    assert architecture(512, 2) == (512, 256)
    assert architecture(128, 3) == (128, 64, 32)
    assert architecture(16, 3) == (16, 10, 10)


def test_epoch_flops_count_forward_dw_and_da_but_not_da_of_the_input():
    # 784 -> 10 -> 10 over 3 rows: forward and dW 2*3*(7840 + 100) each, dA of layer 2 only.
    assert epoch_flops(3, (784, 10, 10)) == 2 * 3 * (2 * (7840 + 100) + 100)


@pytest.mark.slow
def test_wide_section_reports_every_case_with_consistent_rates(tmp_path):
    out = tmp_path / "wide.json"
    command = [
        sys.executable,
        "-m",
        "mnistbench.cli",
        "bench",
        "--quick",
        "--m",
        "600",
        "--no-minibatch",
        "--no-compile",
        "--engines",
        "numba",
        "numpy",
        "--widths",
        "16,40",
        "--depths",
        "1,2",
        "--repeats",
        "2",
        "--pause",
        "0",
        "--json",
        str(out),
        "--wide-plot",
        str(tmp_path / "wide.png"),
    ]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    assert "training epochs, Adam" in result.stdout
    wide = json.loads(out.read_text())["wide"]
    hidden = sorted({tuple(row["hidden"]) for row in wide["cases"]})
    assert hidden == [(16,), (16, 10), (40,), (40, 20)]
    assert {row["engine"] for row in wide["cases"]} == {"numba", "numpy"}
    for row in wide["cases"]:
        assert len(row["times_ms"]) == 2
        assert row["gflops"] == pytest.approx(row["flops"] / row["median_ms"] / 1e6)
        assert row["flops"] == epoch_flops(600, (784, *row["hidden"], 10))
        assert row["peak_fraction"] == pytest.approx(row["gflops"] / wide["peak_gflops_float32"])
    assert (tmp_path / "wide.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("widths", ["0", "a", "128,-1", ""])
def test_bad_widths_exit_2(widths):
    result = subprocess.run(
        [sys.executable, "-m", "mnistbench.cli", "bench", "--widths", widths],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--widths" in result.stderr and "Traceback" not in result.stderr


def _case(engine: str, median: float, low: float, high: float) -> dict:
    return {
        "hidden": [128, 64],
        "batch_size": 128,
        "engine": engine,
        "median_ms": median,
        "min_ms": low,
        "max_ms": high,
        "gflops": 100.0,
        "peak_fraction": 0.5,
        "speedup_vs_torch": None,
        "best_peer": None,
    }


def test_a_row_timed_on_an_unsteady_machine_is_marked_and_explained():
    """A row whose rounds spread past UNSTEADY_SPREAD gets '!' and the table a footnote.

    Seen on a 2-vCPU VM: 2-thread epochs of 37 ms and 64 ms in one run (docs/benchmarks.md).
    """
    result = {"workload": "w", "threads": 2, "repeats": 5}
    steady = [_case("numba", 37.0, 36.0, 38.0), _case("numpy", 90.0, 88.0, 88.0 * 1.25)]
    text = format_section({**result, "cases": steady})
    assert "!" not in text
    assert not any(unsteady(row) for row in steady)  # 1.25x exactly is still steady
    shaky = [_case("numba", 61.0, 36.0, 65.0), steady[1]]
    lines = format_section({**result, "cases": shaky}).splitlines()
    assert "[36-65]!" in next(line for line in lines if " numba " in line)
    assert "[88-110]!" not in "\n".join(lines) and "[88-110]" in "\n".join(lines)
    assert [line for line in lines if line.startswith("!:")] == [
        f"!: its slowest round took over {UNSTEADY_SPREAD:g}x its fastest: the machine was "
        "unsteady while that row ran, so its median and ratios may be off; rerun it"
    ]
    assert spread_text(shaky[0], ".1f") == "[36.0-65.0]!"
