"""``mnistbench bench --compare``: bootstrap intervals, verdicts, refusals and bad input.

Verdicts are tested on recorded samples (tests/data/bench_rounds.json, see tests/bench_rounds.py),
never on fresh timings: a run against a resample of itself must read "same", a variant doing 20%
more work must read "slower" against the original timed in the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bench_rounds import FIXTURE, SLOW, THREADS

from mnistbench.bench import main
from mnistbench.bench.compare import (
    UNRESOLVED,
    CompareError,
    bootstrap_ratio,
    compare,
    load_result,
    verdict,
)
from mnistbench.bench.report import SCHEMA
from mnistbench.reference.workloads import SEED

MACHINE = {
    "cpu": "Test CPU",
    "cpu_flags": ["avx2", "fma"],
    "cores": 2,
    "memory_gib": 23.5,
    "arch": "x86_64",
    "blas_kernel": "openblas Haswell",
    "threads": 2,
    "numpy": "2.4.6",
    "numba": "0.68.1",
    "llvmlite": "0.50.0",
    "torch": None,
    "blas": "openblas 0.3.31 Haswell, 2 threads",
}
WORKLOAD = {
    "m": SEED.rows,
    "n_in": SEED.n_in,
    "hidden": SEED.hidden,
    "n_out": SEED.n_out,
    "repeats": 7,
}


def result_of(rows: dict[str, list[float]], machine=MACHINE, load=(1.0, 1.0)) -> dict:
    """A schema-valid bench result whose full-batch rows carry ``rows``' samples (name|dtype|input
    -> times_ms)."""
    full_batch = []
    for key, times in rows.items():
        name, dtype, input_dtype = key.split("|")
        full_batch.append(
            {"name": name, "dtype": dtype, "input_dtype": input_dtype, "times_ms": list(times)}
        )
    return {
        "schema": SCHEMA,
        "date": "2026-11-28",
        "machine": dict(machine),
        "workload": dict(WORKLOAD),
        "conditions": {"load_before": load[0], "load_after": load[1]},
        "full_batch": full_batch,
        "minibatch": [],
    }


@pytest.fixture(scope="module")
def recorded() -> list[dict]:
    """Recorded runs: per-round samples per row and the conditions they were timed in."""
    return json.loads(FIXTURE.read_text())["runs"]


def write(path: Path, result: dict) -> Path:
    path.write_text(json.dumps(result))
    return path


def test_bootstrap_ratio_of_constant_samples_is_exact():
    ratio, low, high = bootstrap_ratio([10.0] * 7, [12.0] * 7, np.random.default_rng(0))
    assert (ratio, low, high) == pytest.approx((1.2, 1.2, 1.2), rel=1e-12)


def test_bootstrap_interval_brackets_the_ratio_and_narrows_with_more_rounds():
    rng = np.random.default_rng(1)
    widths = []
    for rounds in (5, 50):
        old = 100 * rng.lognormal(0, 0.05, rounds)
        new = 110 * rng.lognormal(0, 0.05, rounds)
        ratio, low, high = bootstrap_ratio(old, new, np.random.default_rng(2))
        assert ratio == pytest.approx(np.median(new) / np.median(old), rel=1e-12)
        assert low <= ratio <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_same_code_is_never_called_slower_or_faster(recorded):
    """OLD is a recorded run, NEW a seeded resample of the same run's rounds: two runs of the same
    code as far as this machine's noise within a run goes, busy runs included. No row may read
    slower or faster; a row reads "same" exactly when its noise floor is within the asked 5%."""
    verdicts = []
    for index, run in enumerate(recorded):
        rows = {key: times for key, times in run["rows"].items() if not key.startswith(SLOW)}
        for draw in range(3):
            rng = np.random.default_rng([index, draw])
            new = {key: rng.choice(times, len(times)).tolist() for key, times in rows.items()}
            comparisons, _ = compare(result_of(rows), result_of(new))
            assert len(comparisons) == len(rows) >= 9
            for row in comparisons:
                verdicts.append(row.verdict)
                if row.verdict == UNRESOLVED:
                    assert row.noise_floor > 0.05 or not 1 / 1.05 <= row.ratio <= 1.05
                    assert row.verdict_text == f"{UNRESOLVED}: noise floor {row.noise_floor:.0%}"
    assert len(verdicts) >= 15 * 9
    assert set(verdicts) <= {"same", UNRESOLVED}
    assert "same" in verdicts


@pytest.mark.parametrize(
    ("ratio", "low", "high", "expected"),
    [
        (1.10, 1.02, 1.18, "slower"),  # beyond the band, interval excludes 1
        (1.10, 0.98, 1.30, UNRESOLVED),  # beyond the band, but 1 is inside the interval
        (0.90, 0.85, 0.97, "faster"),
        (1.02, 0.99, 1.05, "same"),  # within the band, noise floor 3%
        (1.02, 0.90, 1.20, UNRESOLVED),  # within the band, noise floor 18% > 5%
        (1.04, 1.01, 1.07, "same"),  # a real 4% change is below the asked resolution
    ],
)
def test_verdicts_follow_the_asked_resolution_and_the_measured_noise(ratio, low, high, expected):
    assert verdict(ratio, low, high, same_within=0.05) == expected


def test_calibration_divides_out_the_machine_speed_of_the_moment():
    """NEW ran on a machine 30% slower as a whole (case and calibration alike): ratio 1, same;
    without calibration samples the same data reads slower."""
    rng = np.random.default_rng(5)
    case, calibration = 20 * rng.lognormal(0, 0.01, 9), 8 * rng.lognormal(0, 0.01, 9)
    old = {
        **result_of({"numba_fused|float32|uint8": case}),
        "calibration": {"times_ms": calibration.tolist()},
    }
    new = {
        **result_of({"numba_fused|float32|uint8": case * 1.3}),
        "calibration": {"times_ms": (calibration * 1.3).tolist()},
    }
    (row,), notes = compare(old, new)
    assert row.ratio == pytest.approx(1.0, rel=1e-12) and row.verdict == "same"
    assert any("calibration case: NEW / OLD 1.300" in note for note in notes)
    del new["calibration"]
    (row,), notes = compare(old, new)
    assert row.ratio == pytest.approx(1.3, rel=1e-12) and row.verdict == "slower"
    assert any("no calibration samples in one run" in note for note in notes)


def test_calibration_table_counts_verdicts_against_the_targets():
    from mnistbench.bench.calibrate import format_table, table

    results = [
        {
            "condition": "idle",
            "planted": planted,
            "ratio": ratio,
            "low": 0,
            "high": 0,
            "verdict": verdict_,
            "noise_floor": 0.02,
        }
        for planted, ratio, verdicts in (
            ("same code", 1.0, ["same"] * 19 + ["slower"]),
            ("+10%", 1.1, ["slower"] * 14 + [UNRESOLVED] * 6),
            ("+25%", 1.25, ["slower"] * 20),
        )
        for verdict_ in verdicts
    ]
    rows = {row["planted"]: row for row in table(results)}
    assert rows["same code"]["wrong"] == 1 and rows["same code"]["met"]
    assert rows["+10%"]["slower"] == 14 and rows["+10%"]["wrong"] == 0 and not rows["+10%"]["met"]
    assert rows["+25%"]["met"] and rows["+25%"]["median_ratio"] == pytest.approx(1.25)
    text = format_table(
        {
            "pairs": 20,
            "threads": 2,
            "m": 41000,
            "repeats": 7,
            "same_within": 0.05,
            "table": list(rows.values()),
        }
    )
    assert "'slower' >= 15/20: MISSED" in text and "false calls <= 1/20: met" in text


def test_recorded_slowed_variant_is_measured_slower_and_never_called_faster(recorded):
    """``numba_fused_slow`` did 20% more work than ``numba_fused`` in the same recorded runs
    (shuffled, interleaved rounds). The ratio estimates the slowdown and every interval is on
    the right side of "faster"; how often the interval clears the band and reads "slower" is
    this machine's noise (see the README: not every time at 15 rounds on a shared machine)."""
    verdicts, ratios, covered = [], [], 0
    for rows in (run["rows"] for run in recorded):
        for dtype in ("float64|float64", "float32|float32"):
            old = result_of({f"numba_fused|{dtype}": rows[f"numba_fused|{dtype}"]})
            new = result_of({f"numba_fused|{dtype}": rows[f"{SLOW}|{dtype}"]})
            (row,), _ = compare(old, new)
            verdicts.append(row.verdict)
            ratios.append(row.ratio)
            covered += row.low <= 1.2 <= row.high
    assert len(ratios) >= 10
    assert 1.1 < np.median(ratios) < 1.45  # 20% more work, plus a second call's overhead
    assert "faster" not in verdicts and "same" not in verdicts
    assert covered >= 0.8 * len(ratios), f"1.2 inside only {covered} of {len(ratios)} intervals"


def test_a_slowdown_of_recorded_noise_is_flagged(recorded):
    """NEW is a recorded run's numba_fused rounds made 20% slower: the same noise, a known
    shift. Where a run's own rounds agree to within a few percent, the shift must read
    "slower"; --fail-above 1.10 then fails only where the interval clears 1.10."""
    flagged = tries = 0
    for rows in (run["rows"] for run in recorded):
        for dtype in ("float64|float64", "float32|float32"):
            times = np.array(rows[f"numba_fused|{dtype}"])
            if np.percentile(times, 75) > 1.05 * np.percentile(times, 25):
                continue  # a run this noisy cannot resolve 20%, whatever the statistic
            old = result_of({f"numba_fused|{dtype}": times.tolist()})
            (row,), _ = compare(old, result_of({f"numba_fused|{dtype}": (times * 1.2).tolist()}))
            np.testing.assert_allclose(row.ratio, 1.2, rtol=1e-12)
            flagged += row.verdict == "slower"
            tries += 1
    assert tries >= 3 and flagged == tries


def test_fail_above_exits_1_only_when_the_interval_clears_it(tmp_path, capsys):
    rng = np.random.default_rng(3)
    base = 50 * rng.lognormal(0, 0.02, 7)
    old = write(tmp_path / "old.json", result_of({"numba_unfused|float64|float64": base}))
    slower = write(tmp_path / "slow.json", result_of({"numba_unfused|float64|float64": base * 1.3}))
    slightly = write(
        tmp_path / "slight.json", result_of({"numba_unfused|float64|float64": base * 1.07})
    )
    assert main(["--compare", str(old), str(slower), "--fail-above", "1.10"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: numba_unfused float64 float64" in out and "slower" in out
    assert main(["--compare", str(old), str(slower)]) == 0  # reported, not failed
    capsys.readouterr()
    assert main(["--compare", str(old), str(slightly), "--fail-above", "1.10"]) == 0
    # 7% is beyond the asked 5% resolution, so it reads slower, but it does not fail 1.10
    assert (
        capsys.readouterr().out.splitlines()[-1] == "0 faster, 0 same, 1 slower, 0 cannot resolve"
    )


def test_faster_same_slower_counts_in_the_summary(tmp_path, capsys):
    base = np.linspace(49, 51, 7)
    old = result_of(
        {"a|float64|float64": base, "b|float64|float64": base, "c|float64|float64": base}
    )
    new = result_of(
        {
            "a|float64|float64": base * 0.7,
            "b|float64|float64": base,
            "c|float64|float64": base * 1.4,
        }
    )
    assert (
        main(
            [
                "--compare",
                str(write(tmp_path / "o.json", old)),
                str(write(tmp_path / "n.json", new)),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "1 faster, 1 same, 1 slower, 0 cannot resolve"
    rows = [line.split() for line in lines if line.startswith("full_batch")]
    verdicts = {row[1]: row[-1] for row in rows}
    assert verdicts == {"a": "faster", "b": "same", "c": "slower"}


def test_different_machines_refuse_unless_forced(tmp_path, capsys):
    rows = {"numba|float64|float64": [10.0, 11.0, 10.5]}
    other = {**MACHINE, "cpu": "Other CPU", "cpu_flags": ["avx2", "fma", "avx512f"]}
    old = write(tmp_path / "old.json", result_of(rows))
    new = write(tmp_path / "new.json", result_of(rows, machine=other))
    assert main(["--compare", str(old), str(new)]) == 2
    err = capsys.readouterr().err
    assert "different machines" in err and "Other CPU" in err and "--force" in err
    assert main(["--compare", str(old), str(new), "--force"]) == 0
    assert "warning: machine cpu" in capsys.readouterr().out
    threads = write(tmp_path / "threads.json", result_of(rows, machine={**MACHINE, "threads": 1}))
    assert main(["--compare", str(old), str(threads)]) == 2
    assert "threads: 2 vs 1" in capsys.readouterr().err


def test_busy_runs_are_flagged_in_the_comparison(tmp_path, capsys):
    rows = {"numba|float64|float64": [10.0, 11.0, 10.5]}
    old = write(tmp_path / "old.json", result_of(rows))
    new = result_of(rows, load=(5.2, 5.9))  # no CPU share recorded: the load average decides
    assert main(["--compare", str(old), str(write(tmp_path / "new.json", new))]) == 0
    assert "warning: NEW ran on a busy machine (load 5.2 -> 5.9)" in capsys.readouterr().out
    new["conditions"]["others_cpu"] = 0.05  # measured: others took 5% of the CPU, not busy
    assert main(["--compare", str(old), str(write(tmp_path / "new.json", new))]) == 0
    assert "ran on a busy machine" not in capsys.readouterr().out
    new["conditions"]["others_cpu"] = 0.4
    assert main(["--compare", str(write(tmp_path / "new.json", new)), str(old)]) == 0
    assert "OLD ran on a busy machine (other processes took 40% of the CPU)" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ('{"schema": "mnistbench-bench/2", "full_batch": [{"name": ', "not valid JSON"),
        ('{"benchmarks": [], "machine_info": {}}', "not a mnistbench bench result"),
        ("[1, 2, 3]", "not a mnistbench bench result"),
        ('{"schema": "mnistbench-bench-scaling/1", "rows": [], "runs": {}}', "scaling result"),
        ('{"full_batch": [], "machine": {}}', "another mnistbench bench version"),
        (
            json.dumps(
                {
                    **result_of({"x|float64|float64": [1.0]}),
                    "full_batch": [{"name": "x", "dtype": "float64", "input_dtype": "float64"}],
                }
            ),
            "no positive finite per-round samples",
        ),
        (
            json.dumps(result_of({"x|float64|float64": [1.0, float("nan")]})),
            "no positive finite per-round samples",
        ),
    ],
)
def test_bad_files_exit_2_with_the_reason_and_write_nothing(tmp_path, capsys, content, message):
    good = write(tmp_path / "good.json", result_of({"x|float64|float64": [1.0, 1.1]}))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "out.json"
    out.write_text("keep me")
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv in (
        ["--compare", str(bad), str(good)],
        ["--compare", str(good), str(bad)],
        ["--compare", str(bad), "--json", str(out)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and message in err, err
    assert out.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    with pytest.raises(CompareError, match=message):
        load_result(bad)


def test_three_files_and_fail_above_without_compare_exit_2(tmp_path, capsys):
    good = write(tmp_path / "good.json", result_of({"x|float64|float64": [1.0, 1.1]}))
    assert main(["--compare", str(good), str(good), str(good)]) == 2
    assert "OLD.json [NEW.json], got 3 files" in capsys.readouterr().err
    assert main(["--fail-above", "1.1"]) == 2
    assert "--fail-above and --relative need --compare" in capsys.readouterr().err


def test_results_sharing_no_rows_exit_2(tmp_path, capsys):
    old = write(tmp_path / "old.json", result_of({"x|float64|float64": [1.0, 1.1]}))
    new = write(tmp_path / "new.json", result_of({"y|float64|float64": [1.0, 1.1]}))
    assert main(["--compare", str(old), str(new)]) == 2
    assert "share no rows" in capsys.readouterr().err


@pytest.mark.slow
def test_real_pair_of_quick_runs_compares_a_planted_slowdown(tmp_path, monkeypatch, capsys):
    """Two real runs (workers in fresh processes), the second with 20% more work planted in
    every full-batch case: the printed ratio and interval come from the samples and calibration
    the JSONs hold (the verdict itself is timing, so it is tested on recorded samples above)."""
    from mnistbench.bench.run import THREAD_VARIABLES

    for variable in THREAD_VARIABLES:  # already pinned: the bench's parent runs in this process
        monkeypatch.setenv(variable, str(THREADS))
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    argv = [
        "--threads",
        str(THREADS),
        "--m",
        "4000",
        "--repeats",
        "5",
        "--no-minibatch",
        "--no-compile",
        "--engines",
        "numba",
        "--variants",
        "numba_fused",
        "--quiet",
    ]
    assert main([*argv, "--json", str(old)]) == 0
    assert main([*argv, "--json", str(new), "--plant-slowdown", "0.2", "--compare", str(old)]) == 0
    lines = capsys.readouterr().out.splitlines()
    printed = {
        tuple(line.split()[1:4]): line.split() for line in lines if line.startswith("full_batch")
    }
    results = [json.loads(path.read_text()) for path in (old, new)]
    assert [r["machine"]["threads"] for r in results] == [THREADS, THREADS]
    keys = {(r["name"], r["dtype"], r["input_dtype"]) for r in results[1]["full_batch"]}
    assert (
        keys
        == set(printed)
        == {
            ("numba_fused", dtype, kind)
            for dtype, kind in (
                ("float64", "float64"),
                ("float64", "uint8"),
                ("float32", "float32"),
                ("float32", "uint8"),
            )
        }
    )
    calibrations = [r["calibration"]["times_ms"] for r in results]
    assert [len(c) for c in calibrations] == [15, 15]  # 5 rounds in each of 3 processes
    for key, fields in printed.items():
        old_row, new_row = (
            next(
                r for r in result["full_batch"] if (r["name"], r["dtype"], r["input_dtype"]) == key
            )
            for result in results
        )
        assert len(old_row["times_ms"]) == len(new_row["times_ms"]) == 15
        assert [len(g) for g in new_row["times_ms_by_process"]] == [5, 5, 5]
        assert old_row["process"] == new_row["process"] == "numba"
        ratio = np.median(new_row["times_ms"]) / np.median(old_row["times_ms"])
        ratio /= np.median(calibrations[1]) / np.median(calibrations[0])
        assert float(fields[6]) == pytest.approx(ratio, abs=5e-4)
        low, high = (float(x) for x in fields[7].strip("[]").split("-"))
        assert low <= float(fields[6]) <= high
        assert " ".join(fields[8:]).split(":")[0] in ("faster", "same", "slower", UNRESOLVED)


def test_relative_judges_rows_against_the_shift_they_share(tmp_path, capsys):
    base = np.linspace(49, 51, 7)
    names = [f"{name}|float64|float64" for name in "abcde"]
    old = result_of(dict.fromkeys(names, base))
    new = result_of({name: base * (1.3 * 1.25 if name[0] == "e" else 1.3) for name in names})
    rows, notes = compare(old, new)
    assert [row.verdict for row in rows] == ["slower"] * 5  # the whole machine moved by 1.3
    assert "every row: median ratio 1.300" in notes[-1]
    rows, _ = compare(old, new, relative=True)
    assert [row.verdict for row in rows] == ["same"] * 4 + ["slower"]
    np.testing.assert_allclose(rows[-1].ratio, 1.25, rtol=1e-12)
    few = write(tmp_path / "few.json", result_of(dict.fromkeys(names[:2], base)))
    assert main(["--compare", str(few), str(few), "--relative"]) == 2
    assert "--relative needs 3 or more shared rows, got 2" in capsys.readouterr().err


def test_per_process_rounds_carry_the_spread_between_processes_into_the_interval():
    """Three processes each: NEW's third process ran slow as a whole (as processes of identical
    code do on a virtual machine). Resampling processes, not only rounds, keeps the interval
    wide enough to span both the fast processes and the slow one: 'cannot resolve'."""
    rng = np.random.default_rng(7)
    old = [list(10 * rng.lognormal(0, 0.01, 7)) for _ in range(3)]
    new = [list(10 * rng.lognormal(0, 0.01, 7)) for _ in range(2)]
    new.append(list(14 * rng.lognormal(0, 0.01, 7)))
    by_process = bootstrap_ratio(old, new, np.random.default_rng(0))
    pooled = bootstrap_ratio(
        [t for group in old for t in group],
        [t for group in new for t in group],
        np.random.default_rng(0),
    )
    assert by_process[0] == pytest.approx(pooled[0], rel=1e-12)
    assert by_process[2] - by_process[1] >= pooled[2] - pooled[1]
    assert by_process[1] < 1 < 1.3 < by_process[2]
    rows = {"numba_fused|float32|uint8": [t for group in new for t in group]}
    result_new = result_of(rows)
    result_new["full_batch"][0]["times_ms_by_process"] = new
    result_old = result_of({"numba_fused|float32|uint8": [t for group in old for t in group]})
    result_old["full_batch"][0]["times_ms_by_process"] = old
    (row,), _ = compare(result_old, result_new)
    assert row.verdict == UNRESOLVED and row.noise_floor > 0.05
    del result_new["full_batch"][0]["times_ms_by_process"]  # pooled rounds only
    (row,), _ = compare(result_old, result_new)
    assert row.verdict != "same"


def test_results_written_before_the_numba_variants_were_renamed_still_compare():
    """Before 0.2.0 the registry's unfused full-batch step and its mini-batch epoch were both
    ``numba``; their rows pair with ``numba_unfused`` and ``numba_fused bs=...`` today."""
    rng = np.random.default_rng(7)
    base = 40 * rng.lognormal(0, 0.01, 7)
    old = result_of({"numba|float32|float32": base, "numba_fused|float32|float32": base / 2})
    old["minibatch"] = [
        {
            "name": "numba bs=128",
            "dtype": "float32",
            "input_dtype": "float32",
            "times_ms": list(base),
        }
    ]
    new = result_of(
        {"numba_unfused|float32|float32": base * 1.3, "numba_fused|float32|float32": base / 2}
    )
    new["minibatch"] = [
        {
            "name": "numba_fused bs=128",
            "dtype": "float32",
            "input_dtype": "float32",
            "times_ms": list(base),
        }
    ]
    rows, notes = compare(old, new)
    verdicts = {row.key[:2]: row.verdict for row in rows}
    assert verdicts == {
        ("full_batch", "numba_unfused"): "slower",
        ("full_batch", "numba_fused"): "same",
        ("minibatch", "numba_fused bs=128"): "same",
    }, notes
    assert not any("only in" in note for note in notes), notes


def test_the_old_registry_path_warns_and_serves_the_same_registry():
    import subprocess
    import sys

    code = (
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import mnistbench.variants as old\n"
        "from mnistbench.bench import variants\n"
        "assert old.FULL_BATCH is variants.FULL_BATCH\n"
        "print([str(w.message) for w in caught if w.category is DeprecationWarning])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "removed in 0.3.0" in result.stdout
