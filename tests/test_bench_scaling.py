"""``mnistbench bench --threads 1,2``: one pinned process per count, efficiency, bad counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mnistbench.bench import main
from mnistbench.bench.options import thread_counts
from mnistbench.bench.scaling import format_scaling, summarize_scaling


def _run(count: int, times: dict[str, float]) -> dict:
    rows = [
        {"name": name, "dtype": "float64", "input_dtype": "float64", "median_ms": ms}
        for name, ms in times.items()
    ]
    return {
        "machine": {
            "cpu": "Test CPU",
            "cpu_flags": [],
            "cores": 4,
            "threads": count,
            "python": "3.11",
            "numpy": "2",
            "numba": "0.6",
            "threading_layer": "omp",
            "blas": "openblas 0.3 Haswell, 1 threads",
        },
        "workload": {"m": 1000, "hidden": 10},
        "full_batch": rows,
        "minibatch": [],
    }


def test_efficiency_is_base_time_times_base_count_over_time_times_count():
    runs = {
        1: _run(1, {"a": 100.0, "b": 60.0}),
        2: _run(2, {"a": 50.0, "b": 60.0}),
        4: _run(4, {"a": 40.0}),
    }
    result = summarize_scaling(runs)
    assert result["threads"] == [1, 2, 4]
    (row,) = result["rows"]  # "b" is missing at 4 threads: only complete rows are lined up
    assert row["name"] == "a"
    np.testing.assert_allclose(
        [row["efficiency"][n] for n in ("1", "2", "4")], [1.0, 1.0, 100 / (4 * 40)], rtol=1e-12
    )
    np.testing.assert_allclose(row["speedup"]["4"], 2.5, rtol=1e-12)
    text = format_scaling(result)
    assert text.splitlines()[-2].split()[-2:] == ["eff", "4"]
    assert text.splitlines()[-1].split() == [
        "a",
        "float64",
        "float64",
        "100.00",
        "50.00",
        "40.00",
        "100%",
        "62%",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "must be >= 1, got 0"),
        ("-1", "must be >= 1, got -1"),
        ("a", "got 'a'"),
        ("1,,2", "got ''"),
        ("2,2", "listed twice"),
        ("1.5", "got '1.5'"),
    ],
)
def test_bad_thread_counts_exit_2_naming_the_value(text, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--threads", text])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_thread_lists_parse_in_order():
    assert thread_counts("1") == [1]
    assert thread_counts("4,1,2") == [4, 1, 2]


def test_more_threads_than_cores_warns_and_is_allowed(capsys):
    cores = os.cpu_count() or 1
    # an unknown variant stops the run right after the thread checks: nothing is timed
    assert main(["--threads", str(cores + 1), "--variants", "no_such_variant"]) == 2
    err = capsys.readouterr().err
    assert f"warning: {cores + 1} threads on {cores} cores" in err
    assert "unknown variant(s) no_such_variant" in err


def test_thread_list_with_compare_exits_2(tmp_path, capsys):
    (tmp_path / "old.json").write_text("{}")
    assert main(["--threads", "1,2", "--compare", str(tmp_path / "old.json")]) == 2
    assert "do not mix" in capsys.readouterr().err


@pytest.fixture(scope="module")
def scaling_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scaling")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnistbench.cli",
            "bench",
            "--threads",
            "1,2",
            "--quick",
            "--m",
            "1500",
            "--repeats",
            "2",
            "--no-minibatch",
            "--engines",
            "numpy",
            "numba",
            "--variants",
            "notebook",
            "numba_fused",
            "--json",
            str(out / "scaling.json"),
            "--plot",
            str(out / "scaling.png"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, json.loads((out / "scaling.json").read_text()), out


@pytest.mark.slow
def test_scaling_run_times_each_count_in_its_own_pinned_process(scaling_run):
    stdout, data, out = scaling_run
    assert data["threads"] == [1, 2]
    assert [data["runs"][n]["machine"]["threads"] for n in ("1", "2")] == [1, 2]
    for n in ("1", "2"):  # the BLAS pool really had that many threads
        pools = [p for p in data["runs"][n]["machine"]["thread_pools"] if p["user_api"] == "blas"]
        assert pools and all(p["num_threads"] == int(n) for p in pools)
        assert data["runs"][n]["compile_seconds"] is None  # scaling never times compilation
    names = [(r["name"], r["dtype"], r["input_dtype"]) for r in data["rows"]]
    assert names[0] == ("notebook", "float64", "float64")
    assert ("numba_fused", "float32", "uint8") in names and len(names) == 5
    for row in data["rows"]:
        runs = {
            n: next(
                r
                for r in data["runs"][n]["full_batch"]
                if r["name"] == row["name"]
                and r["dtype"] == row["dtype"]
                and r["input_dtype"] == row["input_dtype"]
            )
            for n in ("1", "2")
        }
        t1, t2 = runs["1"]["median_ms"], runs["2"]["median_ms"]
        np.testing.assert_allclose(row["efficiency"]["2"], t1 / (2 * t2), rtol=1e-12)
    assert "eff 2" in stdout and "threads 1: measured" in stdout
    assert (out / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["scaling.json", "scaling.png"]
