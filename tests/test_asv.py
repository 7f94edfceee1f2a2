"""The asv suite cannot silently rot: it must import, validate and run one benchmark; and it
cannot silently grow: the default grid stays within a budget that keeps one commit's ``asv run``
near 2 minutes on 2 cores, the heavy cases stay behind ``MNISTBENCH_ASV_FULL=1``, and the names
asv compares commits by stay put.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from itertools import product
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
needs_asv = pytest.mark.skipif(shutil.which("asv") is None, reason="asv is not installed")

# Every benchmark the suite had before the sizing (asv keys history by these names).
STABLE_NAMES = {
    "bench_augment.AugmentThroughput.time_images",
    "bench_augment.AugmentThroughput.track_images_per_second",
    "bench_augment.AugmentedEpoch.time_epoch",
    "bench_augment.AugmentedEpoch.track_time_vs_off",
    "bench_compile.CompileSeconds.track_cached",
    "bench_compile.CompileSeconds.track_cold",
    "bench_full_batch.FullBatchIteration.time_iteration",
    "bench_full_batch.SpeedupOverNotebook.track_speedup_over_notebook",
    "bench_inference.Predict.time_predict",
    "bench_inference.Predict.track_samples_per_second",
    "bench_minibatch.MinibatchEpoch.time_epoch",
    "bench_training.AdamAccuracy.track_dev_accuracy",
    "bench_training.SeedRunAccuracy.track_dev_accuracy",
    "bench_training.TrainingMemory.peakmem_epoch",
    "bench_wide.WideEpoch.time_epoch",
    "bench_wide.WideEpoch.track_gflops",
}
# The default run's budget: benchmark processes asv starts (one per case and round, one per
# setup_cache) and seconds it may spend sampling. Measured against it: ~2 minutes a commit.
MAX_PROCESSES = 40
MAX_SAMPLING_SECONDS = 45.0


def _asv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["asv", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def _presets():
    """benchmarks/presets.py loaded alone: importing the benchmarks package would pin threads."""
    spec = importlib.util.spec_from_file_location("_asv_presets", ROOT / "benchmarks/presets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DISCOVER = """
import json, sys
from asv_runner.discovery import disc_benchmarks
keys = ("name", "type", "params", "rounds", "repeat", "number", "warmup_time", "timeout",
        "setup_cache_key")
found = [{key: getattr(b, key, None) for key in keys} for b in disc_benchmarks("benchmarks")]
with open(sys.argv[1], "w") as out:
    json.dump(found, out)
"""


@lru_cache(maxsize=2)
def _discover(full: bool) -> tuple[dict, ...]:
    """The benchmarks asv's own discovery finds in benchmarks/, in a fresh process, with their
    sizing attributes (asv's JSON listing drops tuples such as ``repeat``).
    """
    env = {key: value for key, value in os.environ.items() if key != "MNISTBENCH_ASV_FULL"}
    if full:
        env["MNISTBENCH_ASV_FULL"] = "1"
    listing = ROOT / ".asv" / f"test-discovery-{'full' if full else 'default'}.json"
    listing.parent.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", DISCOVER, str(listing)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    benchmarks = tuple(json.loads(listing.read_text()))
    listing.unlink()
    return benchmarks


def _cases(benchmark: dict) -> int:
    return math.prod(len(values) for values in benchmark["params"]) if benchmark["params"] else 1


def _processes(benchmarks) -> int:
    """Processes ``asv run`` starts: one per case and round, one per setup_cache."""
    per_case = sum(_cases(b) * (b["rounds"] or 1) for b in benchmarks)
    return per_case + len({b["setup_cache_key"] for b in benchmarks if b["setup_cache_key"]})


def _sampling_seconds(benchmark: dict) -> float:
    """Seconds a time benchmark's process keeps sampling once past its minimum sample count."""
    _, _, max_time = benchmark["repeat"]
    return benchmark["warmup_time"] + max_time


@pytest.fixture(scope="module")
def default_suite():
    return _discover(full=False)


def test_default_run_stays_within_its_budget(default_suite):
    names = {b["name"] for b in default_suite}
    assert STABLE_NAMES <= names, f"renamed or dropped: {sorted(STABLE_NAMES - names)}"
    processes = _processes(default_suite)
    assert processes <= MAX_PROCESSES, f"{processes} benchmark processes a commit"
    timed = [b for b in default_suite if b["type"] == "time"]
    for benchmark in timed:  # sized explicitly, never asv's open-ended defaults
        min_repeat, max_repeat, max_time = benchmark["repeat"]
        assert min_repeat >= 3 and max_repeat <= 10 and max_time <= 2.0, benchmark["name"]
        assert 1 <= benchmark["rounds"] <= 2 and benchmark["number"] == 1, benchmark["name"]
    sampling = sum(_cases(b) * b["rounds"] * _sampling_seconds(b) for b in timed)
    assert sampling <= MAX_SAMPLING_SECONDS, f"{sampling:.0f} s of sampling a commit"
    for benchmark in default_suite:  # a hung case ends well before asv's default of 60 s x 10
        assert benchmark["timeout"] <= 300, benchmark["name"]


def test_default_grid_is_the_presets_and_a_subset_of_the_full_one(default_suite):
    presets = _presets()
    for benchmark in default_suite:
        class_name = benchmark["name"].split(".")[1]
        if class_name not in presets.GRIDS:  # the unparametrised AdamAccuracy
            assert not benchmark["params"], f"{benchmark['name']} has a grid but no preset"
            continue
        default, full = presets.GRIDS[class_name]
        as_asv_lists = [[repr(value) for value in values] for values in default]
        assert benchmark["params"] == as_asv_lists, benchmark["name"]
        for case in product(*default):
            assert all(value in values for value, values in zip(case, full, strict=True)), (
                f"{class_name} {case} is in the default grid but not in the full one"
            )


def test_heavy_cases_are_behind_the_environment_variable(default_suite):
    presets = _presets()
    full_suite = _discover(full=True)
    assert {b["name"] for b in full_suite} == {b["name"] for b in default_suite}
    default_cases = sum(_cases(b) for b in default_suite)
    full_cases = sum(_cases(b) for b in full_suite)
    assert full_cases >= 5 * default_cases, (default_cases, full_cases)
    wide = next(b for b in full_suite if b["name"] == "bench_wide.WideEpoch.time_epoch")
    assert "'512,256'" in wide["params"][0] and "'torch_compile'" in wide["params"][1]
    compile_ = next(b for b in full_suite if b["name"].endswith("CompileSeconds.track_cold"))
    assert len(compile_["params"][0]) == len(presets.ALL_INPUTS)
    assert presets.grid("WideEpoch", full=False) == presets.GRIDS["WideEpoch"][0]


def test_full_grid_covers_every_registry_variant_and_the_seed_workload():
    from mnistbench.bench import augment, wide
    from mnistbench.bench.variants import FULL_BATCH, MINIBATCH
    from mnistbench.reference.workloads import SEED

    presets = _presets()
    assert set(FULL_BATCH) <= set(presets.FULL_BATCH_VARIANTS)
    assert set(MINIBATCH) <= set(presets.MINIBATCH_VARIANTS)
    assert set(presets.GRIDS["WideEpoch"][1][1]) == set(wide.ENGINES)
    assert set(presets.GRIDS["AugmentThroughput"][1][0]) == set(augment.TRANSFORMS)
    assert presets.SEED_ROWS == SEED.rows  # the suite times the seed workload of the table
    with pytest.raises(KeyError, match="no grid for 'Nope'"):
        presets.grid("Nope")


@needs_asv
def test_asv_check_finds_no_problems():
    result = _asv("check", "--python=same")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No problems found" in result.stdout


@needs_asv
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


@needs_asv
@pytest.mark.slow
def test_asv_tracks_the_speedup_over_the_notebook():
    selected = r"SpeedupOverNotebook\.track_speedup_over_notebook\('numba_fused', 'float64'\)"
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
    header = next(line for line in output.splitlines() if "uint8->float32" in line).split()
    row = next(line for line in output.splitlines() if line.split()[:1] == ["numba_fused"])
    column = header.index("float64") - header.index("variant")  # input columns, variant rows
    speedup = float(row.split()[column])  # a ratio of two medians: a number, not "n/a"
    assert math.isfinite(speedup) and speedup > 0, row
