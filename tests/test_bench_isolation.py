"""Every system the bench times runs in a worker process of its own (mnistbench.bench.isolated).

The proof is what each worker process reports of itself: its pid, whether Numba's threading
layer ever started in it, and which of torch/jax it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mnistbench import jax_engine, torch_engine
from mnistbench.bench.isolated import WorkerError, Workers, time_isolated

M = 600
SEED = {"m": M, "hidden": 10}


def test_each_system_runs_in_a_process_of_its_own_and_only_numbas_starts_its_pool():
    with Workers(threads=2) as workers:
        workers.add(
            "fused",
            "numba",
            "mnistbench.bench.cases:seed_step",
            variant="numba_fused",
            dtype="float32",
            input_dtype="uint8",
            **SEED,
        )
        workers.add(
            "reference",
            "numpy",
            "mnistbench.bench.cases:seed_step",
            variant="reference",
            dtype="float64",
            input_dtype="float64",
            **SEED,
        )
        workers.add(
            "notebook",
            "notebook",
            "mnistbench.bench.cases:seed_step",
            variant="notebook",
            dtype="float64",
            input_dtype="float64",
            **SEED,
        )
        times = time_isolated(workers, ["fused", "reference", "notebook"], repeats=3, pause=0)
        facts = {system: workers.facts(system) for system in workers.systems}
    assert {key: len(samples) for key, samples in times.items()} == {
        "fused": 3,
        "reference": 3,
        "notebook": 3,
    }
    assert all(t > 0 for samples in times.values() for t in samples)
    pids = {facts[system]["pid"] for system in facts}
    assert len(pids) == 3 and os.getpid() not in pids
    assert facts["numba"]["numba_threading_layer"] in ("omp", "tbb", "workqueue")
    for system in ("numpy", "notebook"):
        assert facts[system]["numba_threading_layer"] is None
        assert not {"torch", "jax"} & set(facts[system]["libraries"])
    assert {facts[system]["environment"].get("XLA_FLAGS") for system in facts} != {None}


def test_a_refused_case_reports_the_workers_reason_and_the_worker_lives_on():
    with Workers(threads=1) as workers:
        with pytest.raises(WorkerError, match="unknown variant|KeyError: 'no_such_variant'"):
            workers.add(
                "bad",
                "numba",
                "mnistbench.bench.cases:seed_step",
                variant="no_such_variant",
                dtype="float32",
                input_dtype="uint8",
                **SEED,
            )
        assert workers.facts("numba")["system"] == "numba"
        with pytest.raises(ValueError, match="unknown system 'fortran'"):
            workers.add("x", "fortran", "mnistbench.bench.cases:calibration")


def test_calibration_yardstick_is_fixed_work_in_the_numba_worker():
    with Workers(threads=2) as workers:
        record = workers.add("calibration", "numba", "mnistbench.bench.cases:calibration")
        run = workers.run("calibration")
    assert record["info"]["version"] == "dot-16x784-cached/2"
    assert run["wall_s"] > 0 and run["cpu_s"] > 0


@pytest.mark.slow
@pytest.mark.skipif(
    not (torch_engine.available() and jax_engine.available()), reason="needs torch, jax, optax"
)
def test_peer_loops_never_share_a_process_with_numbas_thread_pool():
    sizes = (784, 16, 10)
    with Workers(threads=2) as workers:
        for engine in ("numba", "torch", "jax"):
            workers.add(
                engine,
                engine,
                "mnistbench.bench.cases:wide_epoch",
                engine=engine,
                sizes=sizes,
                batch_size=128,
                m=M,
            )
        time_isolated(workers, ["numba", "torch", "jax"], repeats=2, pause=0)
        facts = {system: workers.facts(system) for system in workers.systems}
    assert facts["numba"]["numba_threading_layer"] is not None
    assert not {"torch", "jax"} & set(facts["numba"]["libraries"])
    for peer in ("torch", "jax"):
        assert facts[peer]["numba_threading_layer"] is None, peer
        assert peer in facts[peer]["libraries"]
    assert facts["torch"]["torch_threads"] == 2
    assert "jax" not in facts["torch"]["libraries"] and "torch" not in facts["jax"]["libraries"]


@pytest.mark.slow
def test_bench_json_names_the_process_of_every_row_and_the_report_says_so(tmp_path):
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "mnistbench.cli",
        "bench",
        "--threads",
        "2",
        "--m",
        str(M),
        "--repeats",
        "2",
        "--pause",
        "0",
        "--no-compile",
        "--engines",
        "numba",
        "numpy",
        "--batch-sizes",
        "128",
        "--processes",
        "2",
        "--json",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "each system timed in a process of its own" in result.stdout
    assert "[bench" in result.stderr and "timing" in result.stderr  # progress on stderr
    bench = json.loads(out.read_text())
    processes = bench["processes"]
    systems = {"numba", "numpy", "notebook"}
    assert set(processes) == systems | {f"{system}#1" for system in systems}  # 2 per system
    assert len({facts["pid"] for facts in processes.values()}) == 6
    expected = {
        "notebook": "notebook",
        "reference": "numpy",
        "numba_unfused": "numba",
        "numba_fused": "numba",
    }
    for row in bench["full_batch"]:
        assert row["process"] == expected[row["name"]]
        assert [len(rounds) for rounds in row["times_ms_by_process"]] == [2, 2]
    for row in bench["minibatch"]:
        assert row["process"] == expected[row["name"].split()[0]]
    assert len(bench["calibration"]["times_ms"]) == 4
    assert bench["machine"]["threading_layer"] == processes["numba"]["numba_threading_layer"]
    quiet = subprocess.run(
        [*command, "--quiet", "--no-minibatch"], capture_output=True, text=True, timeout=600
    )
    assert quiet.returncode == 0 and "[bench" not in quiet.stderr
