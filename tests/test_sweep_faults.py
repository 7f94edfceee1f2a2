"""``mnistbench sweep`` under faults: two writers, lost workers, bad values, Ctrl-C at any moment.

The cluster tests run on an embedded 2-worker ``LocalCluster``; the race and the Ctrl-C tests run
``mnistbench sweep`` as a user does, in a subprocess of its own session, so that SIGINT reaches
every process of the group as a terminal's Ctrl-C does.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistbench.sweep import GridError, load_grid, session
from mnistbench.sweep.results import ResultsFile, lock_path, read_results
from sweep_processes import group_gone, start, sweep

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

SETTING = ["--set", "solver=sgd", "--set", "batch_size=100", "--set", "learning_rate_init=0.05"]


def _keys(argv: list[str], repeat: int) -> set[str]:
    """The trial keys of a sweep's ``--set NAME=VALUES`` flags."""
    sets = [value for flag, value in zip(argv[::2], argv[1::2], strict=True) if flag == "--set"]
    grid = load_grid(None, sets).with_options(repeat=repeat)
    return {t.key for t in grid.trials_for("random_state")}


@pytest.fixture
def no_trials(monkeypatch):
    """Fail the test if a cluster starts or a trial runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("a trial ran although the grid was bad")

    monkeypatch.setattr(session, "local_cluster", refuse)
    monkeypatch.setattr(session, "run_serial", refuse)


# --- every value goes through fit's checks before the first trial ---------------------------


@pytest.mark.parametrize(
    ("grid", "named"),
    [
        ("hidden_layer_sizes = [[8, 0]]", "hidden_layer_sizes=(8, 0)"),
        ("hidden_layer_sizes = [[]]", "hidden_layer_sizes=()"),
        ('augment = "bogus"', "augment='bogus'"),
        ("hidden_layer_sizes = [[8, 8]]\ndropout = [[0.1]]", "dropout=(0.1,)"),
        ('augment = "noise"\nnoise = 0.1\nsolver = "lbfgs"', "solver='lbfgs'"),
        # the first offending point is the one named
        ("hidden_layer_sizes = [[8], [8, 0], [0]]", "hidden_layer_sizes=(8, 0)"),
    ],
)
def test_values_fit_refuses_exit_2_before_any_trial(grid, named, tmp_path, capsys, no_trials):
    path = tmp_path / "grid.toml"
    path.write_text(f"[grid]\n{grid}\nmax_iter = 1\n")
    out = tmp_path / "r.csv"
    assert sweep(path, "--out", out) == 2
    err = capsys.readouterr().err
    assert "invalid value in the grid" in err
    assert f"({named}" in err or f", {named}" in err
    assert not out.exists() and not lock_path(out).exists()


# --- one writer per results file -------------------------------------------------------------


def _record(index: int, key: str, error: str = "", worker: str = "tcp://w:1") -> dict:
    return {
        "trial": index,
        "trial_key": key,
        "dev_accuracy": math.nan if error else 0.9,
        "test_accuracy": math.nan,
        "train_seconds": 1.0,
        "n_iter": 2,
        "threads": 1,
        "machine": "m",
        "worker": worker,
        "error": error,
        "seed_setting": False,
    }


def test_second_writer_is_refused_while_the_first_holds_the_file(tmp_path):
    out = tmp_path / "r.csv"
    first = ResultsFile(out, "grid-a", ("alpha",))
    first.append(_record(0, "k0"), {"alpha": 1e-4})
    for resume in (False, True):
        with pytest.raises(GridError, match=f"pid {os.getpid()}"):
            ResultsFile(out, "grid-a", ("alpha",), resume=resume)
    message = "being written by another sweep"
    with pytest.raises(GridError, match=message):
        ResultsFile(out, "grid-b", ("alpha",))
    first.append(_record(1, "k1"), {"alpha": 1e-3})  # the refused ones touched nothing
    first.close()
    assert not lock_path(out).exists()
    assert list(read_results(out)["trial_key"]) == ["k0", "k1"]
    with ResultsFile(out, "grid-a", ("alpha",), resume=True) as again:
        assert again.done == {"k0", "k1"}
    with pytest.raises(RuntimeError, match="closed"):
        again.append(_record(2, "k2"), {"alpha": 1e-2})
    assert list(tmp_path.iterdir()) == [out]


def test_resume_reruns_trials_an_older_sweep_lost_to_the_cluster(tmp_path):
    """Sweeps before this one wrote a task lost with its worker as a failed row with no worker."""
    out = tmp_path / "r.csv"
    with ResultsFile(out, "grid-a", ("alpha",)) as results:
        results.append(_record(0, "ok"), {"alpha": 1e-4})
        results.append(_record(1, "diverged", "TrainingDiverged: loss is nan"), {"alpha": 1.0})
        lost = _record(2, "lost", "FutureCancelledError: lost dependencies", worker="")
        results.append({**lost, "machine": ""}, {"alpha": 1e-3})
    with ResultsFile(out, "grid-a", ("alpha",), resume=True) as results:
        assert results.done == {"ok", "diverged"}  # --resume reruns the lost one only
    with ResultsFile(out, "grid-a", ("alpha",), resume=True, retry_failed=True) as results:
        assert results.done == {"ok"}
        results.append(_record(2, "lost"), {"alpha": 1e-3})  # its rerun replaces the row
    frame = read_results(out).set_index("trial_key")
    assert sorted(frame.index) == ["diverged", "lost", "ok"]
    assert frame.loc["lost", "error"] == "" and frame.loc["lost", "worker"] == "tcp://w:1"


@pytest.mark.slow
def test_two_sweeps_on_one_file_keep_every_row_or_refuse(tmp_path):
    """The race of the issue: two sweeps started together on the same --out."""
    out = tmp_path / "same.csv"
    grids = [["--set", "hidden_layer_sizes=8,12"], ["--set", "hidden_layer_sizes=16,24"]]
    common = [*SETTING, "--set", "max_iter=2", "--repeat", "2", "--workers", "2", "--out", out]
    procs = [start(*grid, *common, cwd=tmp_path) for grid in grids]
    outcomes = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in outcomes)
    assert codes == [0, 2], outcomes
    (winner,) = [g for g, (rc, _, _) in zip(grids, outcomes, strict=True) if rc == 0]
    (_, _, refused) = next(o for o in outcomes if o[0] == 2)
    assert "being written by another sweep" in refused or "pass --resume" in refused
    assert "Traceback" not in refused
    frame = read_results(out)
    assert set(frame["trial_key"]) == _keys([*winner, *SETTING, "--set", "max_iter=2"], 2)
    assert len(frame) == 4
    assert (frame["error"] == "").all()
    assert not lock_path(out).exists()


# --- workers lost mid-sweep ------------------------------------------------------------------


def _kill_workers_when_rows(out: Path, rows: int, pid: int, timeout: float = 120) -> list[int]:
    """Once ``out`` holds ``rows`` rows, SIGKILL every Dask worker process of ``pid`` (the
    multiprocessing spawn children its in-process nannies started); returns their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and len(read_results(out)) >= rows:
            break
        time.sleep(0.05)
    else:
        return []
    workers = [
        p
        for p in psutil.Process(pid).children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline())
    ]
    for worker in workers:
        worker.kill()
    return [worker.pid for worker in workers]


GRID_12 = [*SETTING, "--set", "hidden_layer_sizes=64", "--set", "max_iter=60", "--repeat", "12"]


@pytest.mark.slow
def test_killed_workers_lose_no_trial(tmp_path):
    """Every worker process killed mid-sweep (the nannies restart them): the lost tasks and the
    lost scattered data are submitted and scattered again; no row records the cluster's error,
    the sweep completes every trial itself (--resume finds nothing left to run)."""
    out = tmp_path / "r.csv"
    proc = start(*GRID_12, "--workers", "2", "--out", out, cwd=tmp_path)
    killed = _kill_workers_when_rows(out, 2, proc.pid)
    stdout, stderr = proc.communicate(timeout=300)
    assert len(killed) == 2, (stdout, stderr)
    assert proc.returncode == 0, stderr
    assert "12 trials: 12 run (0 failed)" in stdout
    frame = read_results(out)
    assert len(frame) == 12 and frame["trial_key"].is_unique
    assert (frame["error"] == "").all() and frame["worker"].str.startswith("tcp://").all()
    assert "Traceback" not in stderr
    again = subprocess.run(
        [sys.executable, "-m", "mnistbench.cli", "sweep", *GRID_12, "--out", out, "--resume"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "12 trials: 0 run (0 failed), 12 already in" in again.stdout


# --- Ctrl-C at any moment --------------------------------------------------------------------


def _holds_ctrl_c(pid: int) -> bool:
    """Whether the process's main thread has SIGINT blocked (the CLI does while it loads)."""
    status = Path(f"/proc/{pid}/status").read_text()
    blocked = int(
        next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16
    )
    return bool(blocked & (1 << (signal.SIGINT - 1)))


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["loading", 0.3, 1.0])
def test_ctrl_c_at_any_moment_is_one_clean_message(moment, tmp_path):
    """SIGINT to the whole process group (a terminal's Ctrl-C) while the command loads its
    modules, and 0.3 s and 1 s in (the sweep starting): exit 130, one message, no traceback, no
    process left. (While the workers start and while trials run: test_sweep_interrupts.py.)

    "loading": as soon as the command holds Ctrl-C back while NumPy, Numba and pandas load (an
    interrupt raised inside NumPy's import once came out as a TypeError, exit 1). Earlier than
    that, in the interpreter's own start-up, no program has a say.
    """
    out = tmp_path / "r.csv"
    argv = [*SETTING, "--set", "hidden_layer_sizes=64", "--set", "max_iter=20", "--repeat", "20"]
    proc = start(*argv, "--workers", "2", "--out", out, cwd=tmp_path)
    if moment == "loading":
        deadline = time.monotonic() + 30
        while not _holds_ctrl_c(proc.pid):
            assert time.monotonic() < deadline, "the command never held Ctrl-C back"
            time.sleep(0.001)
    else:
        time.sleep(moment)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [
        next(line for line in stderr.splitlines() if "interrupted" in line)
    ]
    assert group_gone(proc.pid), "a process of the cluster outlived the sweep"
    assert not lock_path(out).exists()
    if out.exists():
        assert (read_results(out)["error"] == "").all()
