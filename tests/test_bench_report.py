"""``mnistbench bench --quick --json`` end to end: fields present, ratios consistent with times."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, "-m", "mnistbench.cli", "bench", "--quick", "--m", "1500",
         "--repeats", "2", "--batch-sizes", "128", "--no-compile", "--engines", "numpy", "numba",
         "--threads", "2", "--json", str(out / "bench.json"), "--plot", str(out / "bench.png")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads((out / "bench.json").read_text()), out


def test_report_prints_the_side_by_side_table(report):
    stdout, _, out = report
    assert "ms/iter" in stdout and "roofline" in stdout and "numba_fused" in stdout
    assert (out / "bench.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "bench.png"]  # no temp files


def test_json_has_machine_workload_and_every_case(report):
    _, data, _ = report
    assert data["machine"]["threads"] == 2 and data["machine"]["numba"]
    assert data["workload"]["m"] == 1500
    assert data["workload"]["flops_per_iteration"] == 4 * 1500 * 784 * 10 + 6 * 1500 * 10 * 10
    names = {(r["name"], r["dtype"], r["input_dtype"]) for r in data["full_batch"]}
    assert ("reference", "float64", "float64") in names
    assert ("numba_fused", "float32", "uint8") in names
    assert {r["batch_size"] for r in data["minibatch"]} == {128}
    assert data["peaks"]["gflops_float32"] > 0 and data["peaks"]["copy_gbps"] > 0


def test_ratios_and_rates_agree_with_the_times(report):
    _, data, _ = report
    reference = next(
        r for r in data["full_batch"] if r["name"] == "reference" and r["dtype"] == "float64"
    )
    for row in data["full_batch"]:
        assert len(row["times_ms"]) == 2
        assert row["min_ms"] <= row["median_ms"] <= row["max_ms"]
        np.testing.assert_allclose(row["median_ms"], np.median(row["times_ms"]), rtol=1e-12)
        np.testing.assert_allclose(
            row["speedup_vs_reference_f64"], reference["median_ms"] / row["median_ms"], rtol=1e-9
        )
        seconds = row["median_ms"] / 1e3
        np.testing.assert_allclose(row["gflops"], row["flops"] / seconds / 1e9, rtol=1e-9)
        np.testing.assert_allclose(row["gbps"], row["bytes"] / seconds / 1e9, rtol=1e-9)
        np.testing.assert_allclose(row["roofline_fraction"], row["floor_ms"] / row["median_ms"],
                                   rtol=1e-9)  # fmt: skip
        assert row["speedup_vs_torch"] is None  # torch engines were not asked for
