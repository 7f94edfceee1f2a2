"""``mnistbench sweep``: grids, validation, a real 2-worker Dask LocalCluster, resume, report.

The end-to-end sweep runs on the embedded digits (4,000 train / 1,000 dev) with two epochs per
trial; a learning rate of 1000 diverges, so every run has failing trials to record.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import socket
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnistbench.cli import main
from mnistbench.sweep import GridError, cluster, load_grid, parse_set, runner, session
from mnistbench.sweep import params as sweep_params
from mnistbench.sweep.grid import canonical
from mnistbench.sweep.report import pareto_front, summarize
from mnistbench.sweep.results import OUTCOME_COLUMNS, read_results

pytest.importorskip("distributed")

GRID_TOML = """\
[grid]
hidden_layer_sizes = [8, 16]
learning_rate_init = [0.05, 1000.0]
solver = "sgd"
batch_size = 100
max_iter = 2

[sweep]
repeat = 2
"""
SWEPT = ("hidden_layer_sizes", "learning_rate_init", "solver", "batch_size", "max_iter")
N_TRIALS = 8  # 2 widths x 2 learning rates x 2 seeds
CHANCE = 0.1
ONE_DEV_ROW = 1e-3  # accuracy step on the 1,000 dev rows


def _sweep(*argv: str) -> int:
    return main(["sweep", *map(str, argv)])


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grid") / "grid.toml"
    path.write_text(GRID_TOML)
    return path


@pytest.fixture(scope="module")
def cluster_results(grid_file, tmp_path_factory) -> Path:
    """The grid run once on an embedded 2-worker LocalCluster."""
    out = tmp_path_factory.mktemp("cluster") / "results.csv"
    assert _sweep(grid_file, "--workers", 2, "--out", out) == 0
    return out


# --- grids -----------------------------------------------------------------------------------


def test_set_values_parse_to_python_types():
    assert parse_set("batch_size=none,64,auto") == ("batch_size", (None, 64, "auto"))
    assert parse_set("learning_rate_init=1e-3,0.1,0.1") == ("learning_rate_init", (1e-3, 0.1))
    assert parse_set("shuffle=true,False") == ("shuffle", (True, False))
    assert parse_set("hidden_layer_sizes=[64,32],(128),16") == (
        "hidden_layer_sizes",
        ((64, 32), (128,), 16),
    )
    for bad in ("no_equals", "x=", "x=1,,2", "x=[1,2", "x=nan"):
        with pytest.raises(GridError):
            parse_set(bad)


def test_grid_file_and_flags_expand_to_stable_keyed_trials(grid_file):
    grid = load_grid(grid_file)
    trials = grid.trials_for("random_state")
    assert len(trials) == N_TRIALS
    assert len({t.key for t in trials}) == N_TRIALS
    assert [t.params["random_state"] for t in trials[:2]] == [0, 1]
    assert trials[0].params == {**dict.fromkeys(SWEPT), **trials[0].params}
    again = load_grid(grid_file).trials_for("random_state")
    assert [t.key for t in again] == [t.key for t in trials]
    # --set replaces a dimension; flag order changes neither keys nor the fingerprint
    a = load_grid(None, ["max_iter=2", "hidden_layer_sizes=8,16"])
    b = load_grid(None, ["hidden_layer_sizes=8,16", "max_iter=2"])
    assert a.fingerprint() == b.fingerprint() != grid.fingerprint()
    assert {t.key for t in a.trials_for("random_state")} == {
        t.key for t in b.trials_for("random_state")
    }
    wider = load_grid(grid_file, ["hidden_layer_sizes=8,16,32"])
    assert len(wider.trials_for("random_state")) == 12


def test_random_search_is_prefix_stable_and_in_range(tmp_path):
    path = tmp_path / "random.toml"
    path.write_text(
        '[grid]\nsolver = ["sgd", "adam"]\nlearning_rate_init = {loguniform = [1e-4, 1e-1]}\n'
        '[sweep]\nsearch = "random"\ntrials = 5\nseed = 3\n'
    )
    five = load_grid(path).points()
    eight = load_grid(path).with_options(trials=8).points()
    assert len(five) == 5 and five == eight[:5]
    rates = np.array([p["learning_rate_init"] for p in eight])
    assert np.all((rates >= 1e-4) & (rates <= 1e-1)) and len(set(rates)) == 8
    assert {p["solver"] for p in eight} <= {"sgd", "adam"}
    assert load_grid(path).with_options(seed=4).points() != five


def _random_grid(tmp_path: Path, grid: str, trials: int, seed: int = 0):
    path = tmp_path / "random.toml"
    path.write_text(
        f'[grid]\n{grid}\n[sweep]\nsearch = "random"\ntrials = {trials}\nseed = {seed}\n'
    )
    return load_grid(path)


def test_random_search_draws_rates_log_uniformly(tmp_path):
    grid = _random_grid(tmp_path, "learning_rate_init = {loguniform = [1e-4, 1e-1]}", 300)
    rates = np.array([p["learning_rate_init"] for p in grid.points()])
    assert np.all((rates >= 1e-4) & (rates <= 1e-1))
    assert all(float(f"{r:.3g}") == r for r in rates)  # 3 significant digits
    per_decade = np.histogram(np.log10(rates), bins=[-4, -3, -2, -1])[0]
    # 100 expected per decade, binomial sd 8.2: +-30 is over 3.5 sd (seeded, so it is fixed).
    assert per_decade.sum() == 300 and np.all(np.abs(per_decade - 100) <= 30), per_decade


def test_random_search_draws_uniform_ranges_evenly(tmp_path):
    grid = _random_grid(tmp_path, "momentum = {uniform = [0.5, 0.99]}", 300)
    values = np.array([p["momentum"] for p in grid.points()])
    assert np.all((values >= 0.5) & (values <= 0.99))
    below_middle = np.sum(values < 0.745)
    assert abs(below_middle - 150) <= 26, below_middle  # binomial sd 8.7: 3 sd


def test_random_search_never_repeats_a_setting(tmp_path):
    choices = 'solver = ["sgd", "adam"]\nhidden_layer_sizes = [[16], [32], [64]]'
    random = _random_grid(tmp_path, choices, 6)
    every = random.points()  # all 6 settings, each once
    full_grid = dataclasses.replace(random, search="grid", trials=None).points()
    assert len(every) == 6 and sorted(map(canonical, every)) == sorted(map(canonical, full_grid))
    four = _random_grid(tmp_path, choices, 4).points()
    assert four == every[:4]  # still prefix-stable
    mixed = choices + "\nalpha = {loguniform = [1e-6, 1e-2]}"
    points = _random_grid(tmp_path, mixed, 200, seed=7).points()
    assert len({canonical(p) for p in points}) == 200
    assert {p["solver"] for p in points} == {"sgd", "adam"}
    assert {p["hidden_layer_sizes"] for p in points} == {(16,), (32,), (64,)}


def test_random_search_refuses_more_trials_than_distinct_settings(tmp_path):
    grid = _random_grid(tmp_path, 'solver = ["sgd", "adam"]\nbatch_size = [32, 64]', 5)
    with pytest.raises(GridError, match="--trials 5 is more than the 4 distinct settings"):
        grid.points()
    narrow = _random_grid(tmp_path, "momentum = {uniform = [0.9, 0.9001]}", 2)  # all 0.9
    with pytest.raises(GridError, match="drew 64 settings in a row that it had drawn before"):
        narrow.points()


# --- refused before any trial runs -----------------------------------------------------------


@pytest.fixture
def no_trials(monkeypatch):
    """Fail the test if a cluster starts or a trial runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("a trial ran although the input was bad")

    monkeypatch.setattr(session, "local_cluster", refuse)
    monkeypatch.setattr(session, "run_serial", refuse)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "hiden_layer_sizes=8"], "unknown parameter 'hiden_layer_sizes'"),
        (["--set", "hiden_layer_sizes=8"], "did you mean 'hidden_layer_sizes'"),
        (["--set", "solver=newton"], "invalid value in the grid (solver='newton'"),
        (["--set", "hidden_layer_sizes=8", "--set", "learning_rate_init=0.1,-1"], "-1"),
        (["--set", "callback=print"], "'callback' cannot be swept"),
        (["--set", "alpha=1e-4", "--trials", "3"], "--trials applies to --search random"),
        (["--set", "alpha=1e-4", "--search", "random"], "needs --trials"),
        (["--set", "random_state=1,2", "--repeat", "2"], "not both"),
        (
            ["--set", "alpha=1e-4,1e-3", "--search", "random", "--trials", "3"],
            "--trials 3 is more than the 2 distinct settings",
        ),
    ],
)
def test_bad_grid_input_is_refused(argv, message, tmp_path, capsys, no_trials):
    out = tmp_path / "r.csv"
    assert _sweep(*argv, "--out", out) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid]\nalpha = {loguniform = [1e-5, 1e-2]}\n", "a range needs --search random"),
        ("[grid]\nalpha = []\n", "empty list"),
        ("[grid]\nalpha = 1e-4\n[sweep]\nrepeats = 2\n", "unknown [sweep] option"),
        ("[grids]\nalpha = 1e-4\n", "unknown table"),
        ("[grid\nalpha = 1e-4\n", "not valid TOML"),
    ],
)
def test_bad_grid_file_is_refused(text, message, tmp_path, capsys, no_trials):
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    assert _sweep(grid, "--out", tmp_path / "r.csv") == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("missing/r.csv", "does not exist"),
        ("folder.csv", "is a directory"),
        ("r.txt", "must end in .csv or .parquet"),
    ],
)
def test_unwritable_results_path_is_refused(out, message, tmp_path, capsys, no_trials):
    (tmp_path / "folder.csv").mkdir()
    assert _sweep("--set", "max_iter=1", "--out", tmp_path / out) == 2
    assert message in capsys.readouterr().err


def test_parquet_without_pyarrow_is_refused(tmp_path, capsys, monkeypatch, no_trials):
    from mnistbench.sweep import results

    monkeypatch.setattr(results, "have_pyarrow", lambda: False)
    assert _sweep("--set", "max_iter=1", "--out", tmp_path / "r.parquet") == 2
    assert "Parquet needs pyarrow" in capsys.readouterr().err


def test_unreachable_scheduler_fails_fast(capsys, no_trials):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    assert _sweep("--set", "max_iter=1", "--scheduler", f"tcp://127.0.0.1:{port}") == 2
    assert time.perf_counter() - started < 10
    assert "cannot connect to the Dask scheduler" in capsys.readouterr().err


def test_silent_server_is_not_taken_for_a_scheduler():
    with socket.socket() as server:  # accepts connections, never answers
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        started = time.perf_counter()
        with pytest.raises(GridError, match="cannot connect to the Dask scheduler"):
            cluster.connect(f"tcp://127.0.0.1:{server.getsockname()[1]}", timeout=1)
        assert time.perf_counter() - started < 5


# --- a real cluster, resume, report ----------------------------------------------------------


@pytest.mark.slow  # cluster_results starts a 2-worker LocalCluster
def test_cluster_sweep_records_every_trial(cluster_results):
    frame = read_results(cluster_results)
    expected = ["trial", "trial_key", *SWEPT, "random_state", *OUTCOME_COLUMNS]
    assert list(frame.columns) == expected
    assert len(frame) == N_TRIALS
    assert sorted(frame["trial"]) == list(range(N_TRIALS))
    assert frame["trial_key"].is_unique
    assert frame["grid_fingerprint"].nunique() == 1
    assert sorted(frame["random_state"]) == [0, 0, 0, 0, 1, 1, 1, 1]
    failed = frame[frame["error"] != ""]
    ok = frame[frame["error"] == ""]
    np.testing.assert_array_equal(sorted(failed["learning_rate_init"]), [1000.0] * 4)
    assert failed["error"].str.startswith("TrainingDiverged").all()
    assert failed["dev_accuracy"].isna().all()
    assert (ok["dev_accuracy"] > 5 * CHANCE).all() and (ok["dev_accuracy"] <= 1).all()
    assert ok["test_accuracy"].isna().all()  # the embedded digits have no official test set
    assert (ok["n_iter"] == 2).all() and (ok["train_seconds"] > 0).all()
    assert ok["worker"].str.startswith("tcp://").all()
    assert (ok["threads"] == 1).all()  # one Numba thread per worker process
    assert (frame["machine"] == socket.gethostname()).all()
    assert not frame["seed_setting"].any()


@pytest.mark.slow  # cluster_results starts a 2-worker LocalCluster
def test_cluster_matches_serial_run(cluster_results, grid_file, tmp_path):
    """Workers get the same scattered data and seeds: the same accuracies as in-process."""
    out = tmp_path / "serial.csv"
    assert _sweep(grid_file, "--serial", "--out", out) == 0
    cluster = read_results(cluster_results).set_index("trial_key").sort_index()
    serial = read_results(out).set_index("trial_key").sort_index()
    assert list(serial.index) == list(cluster.index)
    assert (serial["error"] != "").tolist() == (cluster["error"] != "").tolist()
    np.testing.assert_allclose(
        serial["dev_accuracy"], cluster["dev_accuracy"], atol=2 * ONE_DEV_ROW, rtol=0
    )
    assert (serial["worker"] == "local").all()


@pytest.mark.slow  # cluster_results starts a 2-worker LocalCluster
def test_resume_skips_finished_trials(cluster_results, grid_file, tmp_path, capsys):
    out = tmp_path / "partial.csv"
    full = read_results(cluster_results)
    full.iloc[:5].to_csv(out, index=False)  # as if interrupted after five trials
    assert _sweep(grid_file, "--workers", 2, "--out", out, "--resume") == 0
    assert f"{N_TRIALS} trials: 3 run" in capsys.readouterr().out
    resumed = read_results(out)
    assert len(resumed) == N_TRIALS and resumed["trial_key"].is_unique
    kept = resumed.iloc[:5].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, full.iloc[:5].reset_index(drop=True))
    rerun = resumed.set_index("trial_key").loc[full["trial_key"].iloc[5:]]
    original = full.set_index("trial_key").iloc[5:]
    np.testing.assert_allclose(rerun["dev_accuracy"], original["dev_accuracy"], atol=0, rtol=0)
    assert (rerun["error"] == original["error"]).all()


@pytest.mark.slow  # cluster_results starts a 2-worker LocalCluster
def test_resume_with_another_grid_leaves_file_untouched(cluster_results, tmp_path, capsys):
    out = tmp_path / "results.csv"
    shutil.copy2(cluster_results, out)
    before = (out.read_bytes(), out.stat().st_mtime_ns)
    assert _sweep("--set", "max_iter=3", "--out", out, "--resume") == 2
    assert "different grid" in capsys.readouterr().err
    assert (out.read_bytes(), out.stat().st_mtime_ns) == before
    assert _sweep("--set", "max_iter=3", "--out", out) == 2  # exists, no --resume
    assert "pass --resume" in capsys.readouterr().err


@pytest.mark.slow  # cluster_results starts a 2-worker LocalCluster
def test_report_ranks_settings_and_writes_pareto_plot(cluster_results, tmp_path, capsys):
    frame = read_results(cluster_results)
    ok = frame[frame["error"] == ""]
    means = ok.groupby(["hidden_layer_sizes", "learning_rate_init"])["dev_accuracy"].mean()
    table, metric, setting = summarize([cluster_results], "random_state")
    assert metric == "dev_accuracy"
    assert setting == ["hidden_layer_sizes", "learning_rate_init"]  # the columns that vary
    assert len(table) == 4 and table["failed"].tolist() == [0, 0, 2, 2]
    np.testing.assert_allclose(table["accuracy"].iloc[:2], sorted(means, reverse=True), rtol=1e-12)
    plot = tmp_path / "pareto.png"
    assert _sweep("--report", cluster_results, "--plot", plot) == 0
    printed = capsys.readouterr().out
    assert f"{table['accuracy'].iloc[0]:.4f}" in printed.splitlines()[1]
    assert "2 settings failed every trial" in printed
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_front_keeps_points_nothing_beats():
    seconds = [1.0, 2.0, 0.5, 3.0, 2.5, math.nan]
    accuracy = [0.80, 0.90, 0.70, 0.85, 0.95, 0.99]
    assert pareto_front(seconds, accuracy) == [2, 0, 1, 4]


def test_interrupt_leaves_a_valid_file(tmp_path, monkeypatch, capsys):
    calls = []
    real = runner.run_trial

    def interrupted_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_trial", interrupted_third)
    out = tmp_path / "r.csv"
    argv = ["--set", "hidden_layer_sizes=8", "--set", "max_iter=1", "--set", "batch_size=200"]
    assert _sweep(*argv, "--repeat", 4, "--serial", "--out", out) == 130
    assert "rerun with --resume" in capsys.readouterr().err
    assert len(read_results(out)) == 2
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_seed_setting_is_recognised():
    n_train = 4000
    defaults = sweep_params.defaults()
    point = sweep_params.seed_point(n_train)
    assert point["hidden_layer_sizes"] == (10,) and point["learning_rate_init"] == 0.1
    assert sweep_params.is_seed_setting({**point, "random_state": 3}, n_train, defaults)
    assert sweep_params.is_seed_setting({**point, "hidden_layer_sizes": 10}, n_train, defaults)
    assert not sweep_params.is_seed_setting({**point, "batch_size": 64}, n_train, defaults)
    assert not sweep_params.is_seed_setting({**point, "alpha": 1e-4}, n_train, defaults)
    assert not sweep_params.is_seed_setting({}, n_train, defaults)


def test_exclusive_mode_takes_one_worker_per_machine():
    class FakeClient:
        def scheduler_info(self, n_workers):
            return {
                "workers": {
                    "tcp://10.0.0.1:1": {"host": "10.0.0.1", "nthreads": 1},
                    "tcp://10.0.0.1:2": {"host": "10.0.0.1", "nthreads": 4},
                    "tcp://10.0.0.2:1": {"host": "10.0.0.2", "nthreads": 1},
                }
            }

    assert runner._one_worker_per_host(FakeClient()) == ["tcp://10.0.0.1:2", "tcp://10.0.0.2:1"]


def test_sweep_and_dask_load_only_when_used():
    import subprocess
    import sys

    code = (
        "import sys; from mnistbench.cli import build_parser; build_parser(); "
        "print('mnistbench.sweep' in sys.modules); import mnistbench.sweep; "
        "print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_parquet_results_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "r.parquet"
    argv = ["--set", "hidden_layer_sizes=8,[16]", "--set", "batch_size=100,auto"]
    argv += ["--set", "max_iter=1", "--serial", "--out", out]
    assert _sweep(*argv) == 0
    frame = read_results(out)
    assert len(frame) == 4 and (frame["error"] == "").all()
    assert sorted(frame["batch_size"].astype(str)) == ["100", "100", "auto", "auto"]
    assert _sweep(*argv, "--resume", "--repeat", 2) == 0  # more seeds for the same grid
    assert len(read_results(out)) == 8


def _write_idx(folder: Path, prefix: str, X: np.ndarray, y: np.ndarray) -> None:
    m = len(y)
    images = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (m, 28, 28))
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(images + X.tobytes())
    labels = bytes([0, 0, 8, 1]) + m.to_bytes(4, "big")
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(labels + y.astype(np.uint8).tobytes())


def test_idx_folder_gives_official_test_accuracy(tmp_path):
    from mnistbench.estimator import MLPClassifier
    from mnistbench.reference.data import load_embedded, train_dev_split

    digits = load_embedded()
    _write_idx(tmp_path, "train", digits.X[:600], digits.y[:600])
    _write_idx(tmp_path, "t10k", digits.X[600:800], digits.y[600:800])
    out = tmp_path / "r.csv"
    setting = {"hidden_layer_sizes": 16, "batch_size": 50, "max_iter": 3}
    argv = [a for k, v in setting.items() for a in ("--set", f"{k}={v}")]
    assert _sweep(*argv, "--data", tmp_path, "--dev-size", 100, "--serial", "--out", out) == 0
    row = read_results(out).iloc[0]
    X, y, X_dev, y_dev = train_dev_split(digits.X[:600], digits.y[:600], dev_size=100, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # three epochs: "not converged"
        model = MLPClassifier(**setting, random_state=0).fit(X, y)
    assert row["dev_accuracy"] == model.score(X_dev, y_dev)
    assert row["test_accuracy"] == model.score(digits.X[600:800], digits.y[600:800])
    assert row["test_accuracy"] > 3 * CHANCE
