"""``mnistbench bench --quick --json`` end to end: fields present, ratios consistent with times."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistbench.cli",
            "bench",
            "--quick",
            "--m",
            "1500",
            "--repeats",
            "2",
            "--batch-sizes",
            "128",
            "--no-compile",
            "--engines",
            "numpy",
            "numba",
            "--threads",
            "2",
            "--json",
            str(out / "bench.json"),
            "--plot",
            str(out / "bench.png"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads((out / "bench.json").read_text()), out


@pytest.mark.slow
def test_report_prints_the_side_by_side_table(report):
    stdout, _, out = report
    assert "ms/iter" in stdout and "roofline" in stdout and "numba_fused" in stdout
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("variant "))
    assert "vs nb" in lines[header] and lines[header + 1].startswith("notebook       float64")
    assert lines[1].startswith("machine: ") and lines[2].startswith("software: Python ")
    assert "; BLAS " in lines[2] and "Numba layer" in lines[2]
    assert (out / "bench.png").read_bytes()[:4] == b"\x89PNG"
    assert re.search(r"GFLOP/s f32 \(openblas \w+", stdout), "the peak's BLAS kernel is named"
    target = re.search(r"our kernels: compiled for (\S+) \((\w+)\), (\d+)-bit vectors", stdout)
    assert target, "the kernels' CPU variant is named"
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "bench.png"]  # no temp files


@pytest.mark.slow
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
    assert "peak_note" not in data["peaks"]  # the peak's own process ran
    assert data["schema"] == "mnistbench-bench/2"
    assert data["full_batch"][0]["name"] == "notebook"
    assert [r["dtype"] for r in data["full_batch"] if r["name"] == "notebook"] == ["float64"]
    assert set(data["conditions"]) == {"load_before", "load_after", "others_cpu"}
    assert 0 <= data["conditions"]["others_cpu"] <= 1


@pytest.mark.slow  # the module's report fixture runs a whole bench --quick
def test_json_carries_the_machine_fingerprint(report):
    _, data, _ = report
    machine = data["machine"]
    keys = {
        "cpu",
        "cpu_flags",
        "cores",
        "memory_gib",
        "os",
        "python",
        "numpy",
        "numba",
        "llvmlite",
        "torch",
        "blas",
        "blas_kernel",
        "thread_pools",
        "threading_layer",
    }
    assert keys <= set(machine), keys - set(machine)
    assert machine["cores"] == os.cpu_count() and machine["memory_gib"] > 0
    assert machine["threading_layer"] in ("omp", "tbb", "workqueue")  # kernels ran in parallel
    blas = [pool for pool in machine["thread_pools"] if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 2 for pool in blas)  # pinned by --threads 2
    assert all(row["blas"] == machine["blas"] for row in data["full_batch"] + data["minibatch"])
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next(line for line in cpuinfo if line.startswith("flags")).split()
    assert ("avx2" in machine["cpu_flags"]) == ("avx2" in flags)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        assert machine["blas_env"].get(name) == os.environ.get(name)


@pytest.mark.slow  # the module's report fixture runs a whole bench --quick
def test_ratios_and_rates_agree_with_the_times(report):
    _, data, _ = report
    reference = next(
        r for r in data["full_batch"] if r["name"] == "reference" and r["dtype"] == "float64"
    )
    notebook = data["full_batch"][0]
    for row in data["full_batch"]:
        assert len(row["times_ms"]) == 2
        assert row["min_ms"] <= row["median_ms"] <= row["max_ms"]
        np.testing.assert_allclose(row["median_ms"], np.median(row["times_ms"]), rtol=1e-12)
        np.testing.assert_allclose(
            row["speedup_vs_reference_f64"], reference["median_ms"] / row["median_ms"], rtol=1e-9
        )
        np.testing.assert_allclose(
            row["speedup_vs_notebook"], notebook["median_ms"] / row["median_ms"], rtol=1e-9
        )
        seconds = row["median_ms"] / 1e3
        np.testing.assert_allclose(row["gflops"], row["flops"] / seconds / 1e9, rtol=1e-9)
        np.testing.assert_allclose(row["gbps"], row["bytes"] / seconds / 1e9, rtol=1e-9)
        np.testing.assert_allclose(
            row["roofline_fraction"], row["floor_ms"] / row["median_ms"], rtol=1e-9
        )
        assert row["speedup_vs_torch"] is None  # torch engines were not asked for


def test_the_peak_is_that_of_the_kernels_vector_width(monkeypatch):
    """The peak's process drops OpenBLAS's pinned coretype (its widest kernel) or pins Haswell
    where the kernels are compiled for AVX2; the kernel it ran is recorded."""
    from mnistbench.bench import measure

    seen = {}

    def fake_run(command, env, **kwargs):
        seen.update(env)
        return subprocess.CompletedProcess(command, 0, '{"blas_kernel": "openblas X"}\n', "")

    monkeypatch.setattr(measure.subprocess, "run", fake_run)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx,+avx2,+fma,+avx512f")
    peaks = measure.measure_peaks(1)
    assert "OPENBLAS_CORETYPE" not in seen and peaks["blas_env"] == {}
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx,+avx2,+fma,-avx512f")
    peaks = measure.measure_peaks(1)
    assert seen["OPENBLAS_CORETYPE"] == "Haswell"
    assert peaks["blas_env"] == {"OPENBLAS_CORETYPE": "Haswell"}
