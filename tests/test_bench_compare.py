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
from mnistbench.bench.compare import CompareError, bootstrap_ratio, compare, load_result
from mnistbench.bench.report import SCHEMA

MACHINE = {"cpu": "Test CPU", "cpu_flags": ["avx2", "fma"], "cores": 2, "memory_gib": 23.5,
           "arch": "x86_64", "blas_kernel": "openblas Haswell", "threads": 2, "numpy": "2.4.6",
           "numba": "0.68.1", "llvmlite": "0.50.0", "torch": None,
           "blas": "openblas 0.3.31 Haswell, 2 threads"}  # fmt: skip
WORKLOAD = {"m": 41000, "n_in": 784, "hidden": 10, "n_out": 10, "repeats": 7}


def result_of(rows: dict[str, list[float]], machine=MACHINE, load=(1.0, 1.0)) -> dict:
    """A schema-valid bench result whose full-batch rows carry ``rows``' samples (name|dtype|input
    -> times_ms)."""
    full_batch = []
    for key, times in rows.items():
        name, dtype, input_dtype = key.split("|")
        full_batch.append({"name": name, "dtype": dtype, "input_dtype": input_dtype,
                           "times_ms": list(times)})  # fmt: skip
    return {"schema": SCHEMA, "date": "2026-11-28", "machine": dict(machine),
            "workload": dict(WORKLOAD), "conditions": {"load_before": load[0],
            "load_after": load[1]}, "full_batch": full_batch, "minibatch": []}  # fmt: skip


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


def test_same_code_reads_same_in_nine_of_ten_comparisons(recorded):
    """OLD is a recorded run, NEW a seeded resample of the same run's rounds: two runs of the same
    code as far as this machine's noise within a run goes, busy runs included."""
    tries = same = 0
    for index, run in enumerate(recorded):
        rows = {key: times for key, times in run["rows"].items() if not key.startswith(SLOW)}
        for draw in range(3):
            rng = np.random.default_rng([index, draw])
            new = {key: rng.choice(times, len(times)).tolist() for key, times in rows.items()}
            comparisons, _ = compare(result_of(rows), result_of(new))
            assert len(comparisons) == len(rows) >= 9
            same += all(row.verdict == "same" for row in comparisons)
            tries += 1
    assert tries >= 15 and same >= 0.9 * tries, f"all rows 'same' in {same} of {tries}"


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
    assert "faster" not in verdicts
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
    old = write(tmp_path / "old.json", result_of({"numba|float64|float64": base}))
    slower = write(tmp_path / "slow.json", result_of({"numba|float64|float64": base * 1.3}))
    slightly = write(tmp_path / "slight.json", result_of({"numba|float64|float64": base * 1.07}))
    assert main(["--compare", str(old), str(slower), "--fail-above", "1.10"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: numba float64 float64" in out and "slower" in out
    assert main(["--compare", str(old), str(slower)]) == 0  # reported, not failed
    capsys.readouterr()
    assert main(["--compare", str(old), str(slightly), "--fail-above", "1.10"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 faster, 1 same, 0 slower"


def test_faster_same_slower_counts_in_the_summary(tmp_path, capsys):
    base = np.linspace(49, 51, 7)
    old = result_of({"a|float64|float64": base, "b|float64|float64": base,
                     "c|float64|float64": base})  # fmt: skip
    new = result_of({"a|float64|float64": base * 0.7, "b|float64|float64": base,
                     "c|float64|float64": base * 1.4})  # fmt: skip
    assert main(["--compare", str(write(tmp_path / "o.json", old)),
                 str(write(tmp_path / "n.json", new))]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "1 faster, 1 same, 1 slower"
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
        (json.dumps({**result_of({"x|float64|float64": [1.0]}), "full_batch": [
            {"name": "x", "dtype": "float64", "input_dtype": "float64"}]}),
         "no positive finite per-round samples"),
        (json.dumps(result_of({"x|float64|float64": [1.0, float("nan")]})),
         "no positive finite per-round samples"),
    ],
)  # fmt: skip
def test_bad_files_exit_2_with_the_reason_and_write_nothing(tmp_path, capsys, content, message):
    good = write(tmp_path / "good.json", result_of({"x|float64|float64": [1.0, 1.1]}))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "out.json"
    out.write_text("keep me")
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv in (["--compare", str(bad), str(good)], ["--compare", str(good), str(bad)],
                 ["--compare", str(bad), "--json", str(out)]):  # fmt: skip
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


def test_real_pair_of_quick_runs_compares_a_registered_slowed_variant(tmp_path, monkeypatch,
                                                                      capsys):  # fmt: skip
    """Two real in-process runs, the second with ``probe`` doing 20% more work: the printed ratio
    and interval come from the samples the JSONs hold (the verdict itself is timing, so it is
    tested on recorded samples above, not here)."""
    from bench_rounds import registered, slowed

    from mnistbench.bench.run import THREAD_VARIABLES
    from mnistbench.variants import FULL_BATCH

    for variable in THREAD_VARIABLES:  # already pinned: the bench runs in this process
        monkeypatch.setenv(variable, str(THREADS))
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    argv = ["--threads", str(THREADS), "--m", "4000", "--repeats", "5", "--no-minibatch",
            "--no-compile", "--engines", "numba", "--variants", "probe"]  # fmt: skip
    with registered("probe", FULL_BATCH["numba_fused"], like="numba_fused"):
        assert main([*argv, "--json", str(old)]) == 0
    with registered("probe", slowed(FULL_BATCH["numba_fused"]), like="numba_fused"):
        assert main([*argv, "--json", str(new), "--compare", str(old)]) == 0
    lines = capsys.readouterr().out.splitlines()
    printed = {tuple(line.split()[1:4]): line.split() for line in lines
               if line.startswith("full_batch") and len(line.split()) == 9}  # fmt: skip
    results = [json.loads(path.read_text()) for path in (old, new)]
    assert [r["machine"]["threads"] for r in results] == [THREADS, THREADS]
    keys = {(r["name"], r["dtype"], r["input_dtype"]) for r in results[1]["full_batch"]}
    assert (
        keys == set(printed) == {("probe", "float64", "float64"), ("probe", "float32", "float32")}
    )
    for key, fields in printed.items():
        old_row, new_row = (next(r for r in result["full_batch"]
                                 if (r["name"], r["dtype"], r["input_dtype"]) == key)
                            for result in results)  # fmt: skip
        assert len(old_row["times_ms"]) == len(new_row["times_ms"]) == 5
        ratio = np.median(new_row["times_ms"]) / np.median(old_row["times_ms"])
        assert float(fields[6]) == pytest.approx(ratio, abs=5e-4)
        low, high = (float(x) for x in fields[7].strip("[]").split("-"))
        assert low <= float(fields[6]) <= high
        assert fields[8] in ("faster", "same", "slower")


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
