"""``mnistbench sweep`` stopped from outside: Ctrl-C while the workers start and while trials run,
the cluster lost mid-sweep (its workers, its scheduler), and the exit code of each.

Ctrl-C goes, as a terminal sends it, to the whole process group of a ``mnistbench sweep``
subprocess; the lost-cluster tests run the sweep in this process against a scheduler and a worker
started here as ``dask scheduler`` / ``dask worker`` processes, which the test kills.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from mnistbench.cli import EXIT_BAD_INPUT, main
from mnistbench.cli import sweep as sweep_cli
from mnistbench.sweep import interrupts, runner
from mnistbench.sweep.cluster import WORKER_ENV
from mnistbench.sweep.results import lock_path, read_results
from sweep_processes import group_gone, start, sweep

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

# trials of about a second each on one core: several are still to run when the first row lands
GRID = [
    *("--set", "solver=sgd", "--set", "batch_size=100", "--set", "learning_rate_init=0.05"),
    *("--set", "hidden_layer_sizes=64", "--set", "max_iter=40", "--repeat", "8"),
]
N_TRIALS = 8
DASK_WORKER_FLAGS = ["--nthreads", "1", "--no-nanny", "--no-dashboard"]  # a killed one stays dead


def _wait_for_rows(out: Path, rows: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not (out.exists() and len(read_results(out)) >= rows):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{out} did not reach {rows} rows in {timeout} s")
        time.sleep(0.05)


def _assert_rows_kept(before: pd.DataFrame, after: pd.DataFrame) -> None:
    """Every row of ``before`` is in ``after`` unchanged (same worker, same finishing time)."""
    kept = after.set_index("trial_key").loc[before["trial_key"]].reset_index()
    pd.testing.assert_frame_equal(kept[before.columns], before)


def _stderr_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# --- the pieces: Ctrl-C held, Ctrl-C remembered ----------------------------------------------


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Ctrl-C raises ``KeyboardInterrupt`` in this process, as in a terminal.

    Also where pytest itself was started with SIGINT ignored (a background job of a script, or
    ``nohup``), where the sweep leaves it ignored on purpose.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_sigint_held_defers_ctrl_c_to_the_end_of_the_block():
    finished = False
    with pytest.raises(KeyboardInterrupt), interrupts.sigint_held():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        finished = True
    assert finished
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_sigint_held_records_ctrl_c_another_thread_receives():
    """A thread started before the block does not block SIGINT; the kernel may hand it the
    signal, and Python then runs the handler in the main thread, inside the block."""
    ready, done = threading.Event(), threading.Event()
    older = threading.Thread(target=lambda: (ready.set(), done.wait(10)))
    older.start()
    ready.wait(10)
    finished = False
    try:
        with pytest.raises(KeyboardInterrupt), interrupts.sigint_held():
            signal.pthread_kill(older.ident, signal.SIGINT)
            time.sleep(0.1)  # the handler runs here, in the main thread
            finished = True
    finally:
        done.set()
        older.join()
    assert finished


def _pandas_reader_interrupted(path):
    """What pandas' C reader does with a Ctrl-C inside its read: its own ParserError."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    except KeyboardInterrupt:
        raise pd.errors.ParserError("Calling read(nbytes) on source failed.") from None


def test_a_ctrl_c_a_library_turns_into_its_own_error_exits_130(monkeypatch, tmp_path, capsys):
    """A Ctrl-C while the data loads came back as pandas' ParserError and exited 2 ("error"):
    it is an interrupt (130, the interrupted line); a real ParserError stays an error (2)."""
    monkeypatch.setattr(
        "mnistbench.sweep.run_sweep", lambda grid, options: _pandas_reader_interrupted(None)
    )
    out = tmp_path / "r.csv"
    code = main(["sweep", "--set", "hidden_layer_sizes=8", "--out", str(out), "--serial"])
    assert code == sweep_cli.EXIT_INTERRUPTED
    assert "interrupted" in capsys.readouterr().err

    def parse_error(grid, options):
        raise pd.errors.ParserError("a real parse error")

    monkeypatch.setattr("mnistbench.sweep.run_sweep", parse_error)
    assert main(["sweep", "--set", "hidden_layer_sizes=8", "--out", str(out), "--serial"]) == (
        EXIT_BAD_INPUT
    )
    assert "a real parse error" in capsys.readouterr().err


class _InterruptedFinalizer:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # KeyboardInterrupt raised here is swallowed


def test_ctrl_c_swallowed_by_a_finalizer_is_kept_and_not_printed(capfd):
    with interrupts.interrupts_kept():
        _InterruptedFinalizer()
        gc.collect()
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    interrupts.check()  # outside the block nothing is remembered
    err = capfd.readouterr().err
    assert "KeyboardInterrupt" not in err and "Exception ignored" not in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- exit codes --------------------------------------------------------------------------------


def test_help_documents_every_exit_code(capsys):
    assert sweep("--help") == sweep_cli.EXIT_OK
    help_text = capsys.readouterr().out
    table = help_text[help_text.index("exit codes:") :].splitlines()[1:]
    codes = [int(line.split()[0]) for line in table if line[:3].strip().isdigit()]
    assert codes == [0, 1, 2, 130]
    assert sweep_cli.EXIT_BAD_INPUT == EXIT_BAD_INPUT
    assert (sweep_cli.EXIT_TRIALS_LOST, sweep_cli.EXIT_INTERRUPTED) == (1, 130)
    flat = " ".join(help_text.split())
    assert f"no worker for {runner.WORKER_WAIT_S} s" in flat
    assert f"lost {runner.MAX_ATTEMPTS} times" in flat


# --- Ctrl-C while the workers start, while trials run ------------------------------------------


def _worker_processes(pid: int) -> list:
    """The Dask worker processes of the sweep ``pid`` (spawned by its in-process nannies)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return [
            p
            for p in psutil.Process(pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())
        ]
    return []


@pytest.mark.slow
@pytest.mark.parametrize("after_s", [0.3, 1.0])
def test_ctrl_c_while_workers_start_is_one_clean_line(after_s, tmp_path):
    """SIGINT to the group ``after_s`` after the first worker process appears, while the
    workers import Dask and the kernels: before the fix each worker printed a traceback."""
    out = tmp_path / "r.csv"
    proc = start(*GRID, "--workers", "2", "--out", out, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not _worker_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(after_s)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == sweep_cli.EXIT_INTERRUPTED, (stdout, stderr)
    assert _stderr_lines(stderr) == [
        f"mnistbench sweep: interrupted; no trial finished, {out} was not written"
    ]
    assert group_gone(proc.pid), "a process of the cluster outlived the sweep"
    assert not out.exists() and not lock_path(out).exists()


@pytest.mark.slow
def test_ctrl_c_while_trials_run_keeps_rows_and_resume_runs_only_the_rest(tmp_path, capsys):
    out = tmp_path / "r.csv"
    proc = start(*GRID, "--workers", "2", "--out", out, cwd=tmp_path)
    _wait_for_rows(out, 1)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == sweep_cli.EXIT_INTERRUPTED, (stdout, stderr)
    assert _stderr_lines(stderr) == [
        f"mnistbench sweep: interrupted; {out} holds every finished trial, "
        "rerun with --resume to continue"
    ]
    assert group_gone(proc.pid) and not lock_path(out).exists()
    before = read_results(out)
    done = len(before)
    assert 1 <= done < N_TRIALS, "the interrupt landed after the last trial"
    assert f"{N_TRIALS} trials: {done} run (0 failed)" in stdout  # every row counted, none lost
    assert (before["error"] == "").all() and before["trial_key"].is_unique

    # serially: what --resume skips does not depend on where the trials run
    assert sweep(*GRID, "--serial", "--out", out, "--resume") == sweep_cli.EXIT_OK
    assert f"{N_TRIALS} trials: {N_TRIALS - done} run (0 failed), {done} already in" in (
        capsys.readouterr().out
    )
    after = read_results(out)
    assert len(after) == N_TRIALS and after["trial_key"].is_unique
    assert (after["error"] == "").all()
    _assert_rows_kept(before, after)  # the finished trials were not run again


# --- the cluster lost mid-sweep ---------------------------------------------------------------


@pytest.fixture
def external_cluster(tmp_path):
    """A ``dask scheduler`` and one ``dask worker`` (no nanny: a killed worker stays dead),
    each in a process group of its own; yields the address and both processes."""
    from distributed import Client

    spec = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    where = ["--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(spec)]
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", *where], **quiet
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not spec.exists() or not spec.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(spec.read_text())["address"]
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, *DASK_WORKER_FLAGS],
            env={**os.environ, **WORKER_ENV},
            **quiet,
        )
        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        yield address, scheduler, worker
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def _kill_when_rows(out: Path, proc: subprocess.Popen) -> threading.Thread:
    """SIGKILL ``proc``'s group once ``out`` holds a row (in a thread; the sweep runs here)."""

    def kill() -> None:
        _wait_for_rows(out, 1)
        os.killpg(proc.pid, signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def _check_lost(out: Path, code: int, printed, reason: str) -> int:
    """The sweep exited 1 naming the reason, and the file holds its finished trials."""
    frame = read_results(out)
    done = len(frame)
    assert code == sweep_cli.EXIT_TRIALS_LOST, printed
    assert 1 <= done < N_TRIALS
    assert f"{N_TRIALS} trials: {done} run (0 failed), {N_TRIALS - done} lost" in printed.out
    (line,) = _stderr_lines(printed.err)
    assert line.startswith(f"mnistbench sweep: {N_TRIALS - done} trials did not run: {reason}")
    assert line.endswith(f"; {out} holds every finished trial, rerun with --resume to run the rest")
    assert (frame["error"] == "").all() and frame["trial_key"].is_unique
    assert not lock_path(out).exists()
    return done


@pytest.mark.slow
def test_workers_gone_ends_the_sweep_with_exit_1_and_resume_completes_it(
    external_cluster, tmp_path, capsys, monkeypatch
):
    address, _, worker = external_cluster
    monkeypatch.setattr(runner, "WORKER_WAIT_S", 2)  # 20 s in use
    out = tmp_path / "r.csv"
    killer = _kill_when_rows(out, worker)
    code = sweep(*GRID, "--scheduler", address, "--out", out)
    killer.join(timeout=10)
    printed = capsys.readouterr()
    done = _check_lost(out, code, printed, "the cluster has had no worker for 2 s")
    before = read_results(out)
    assert sweep(*GRID, "--serial", "--out", out, "--resume") == sweep_cli.EXIT_OK
    assert f"{N_TRIALS - done} run (0 failed), {done} already in" in capsys.readouterr().out
    after = read_results(out)
    assert len(after) == N_TRIALS and (after["error"] == "").all()
    _assert_rows_kept(before, after)


@pytest.mark.slow
def test_scheduler_gone_ends_the_sweep_with_exit_1(external_cluster, tmp_path, capsys):
    """Dask's client gives up reconnecting after its connect timeout (5 s): exit 1, not 2."""
    address, scheduler, _ = external_cluster
    out = tmp_path / "r.csv"
    killer = _kill_when_rows(out, scheduler)
    code = sweep(*GRID, "--scheduler", address, "--out", out)
    killer.join(timeout=10)
    printed = capsys.readouterr()
    _check_lost(out, code, printed, "the scheduler cannot be reached (")
