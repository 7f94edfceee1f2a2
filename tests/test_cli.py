"""``mnistbench train | predict`` end to end, in subprocesses as a user runs them.

One real default run (500 full-batch iterations on the embedded digits) is shared by the tests
that need a trained model, to keep the suite short.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import mnistbench
from mnistbench.cli import main
from mnistbench.estimator import MLPClassifier
from mnistbench.reference.data import load_embedded

ENV = {**os.environ, "MPLBACKEND": "Agg"}
PNGS = ["confusion_matrix.png", "learning_curve.png", "predictions.png"]


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnistbench.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=timeout,
    )


def summary_value(stdout: str, label: str) -> str:
    match = re.search(rf"^{label}:\s+(\S+)", stdout, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{stdout}"
    return match.group(1)


def write_kaggle_csv(path: Path, X: np.ndarray, y: np.ndarray | None = None) -> Path:
    header = ([] if y is None else ["label"]) + [f"pixel{i}" for i in range(784)]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, row in enumerate(X):
            writer.writerow(([] if y is None else [int(y[i])]) + row.tolist())
    return path


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """``mnistbench train --plots DIR --save-model PATH``: the seed's run, all defaults."""
    cwd = tmp_path_factory.mktemp("default_run")
    result = run_cli("train", "--plots", "figures", "--save-model", "model.npz", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd, result


def test_default_train_reaches_78_percent_dev_and_reports_a_summary(default_run):
    """Seed run: measured 0.845 dev accuracy at seed 0; floor 0.78."""
    _, result = default_run
    assert float(summary_value(result.stdout, "dev accuracy")) >= 0.78
    assert float(summary_value(result.stdout, "train accuracy")) >= 0.78
    assert float(summary_value(result.stdout, "final loss")) < 1.0
    assert float(summary_value(result.stdout, "time per iteration")) > 0
    assert "engine numba" in summary_value(result.stdout, "total time") + result.stdout
    assert "Traceback" not in result.stderr


def test_default_train_logs_plain_lines_when_not_a_terminal(default_run):
    _, result = default_run
    logged = re.findall(
        r"^epoch +(\d+)/500 +loss [\d.]+ +train acc [\d.]+ +dev acc [\d.]+$",
        result.stdout,
        re.MULTILINE,
    )
    assert [int(n) for n in logged] == [*range(1, 500, 10), 500]


def test_default_train_writes_three_plots_and_the_model(default_run):
    cwd, _ = default_run
    assert sorted(p.name for p in (cwd / "figures").iterdir()) == PNGS
    for name in PNGS:
        assert (cwd / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in cwd.iterdir()) == ["figures", "model.npz"]
    model = MLPClassifier.load(cwd / "model.npz")
    assert model.n_iter_ == 500 and model.params_.sizes[1:-1] == (10,)


def test_predict_writes_a_kaggle_submission_for_unlabeled_test_csv(default_run, tmp_path):
    cwd, _ = default_run
    X = np.asarray(load_embedded().X[::100])  # 50 digits
    write_kaggle_csv(tmp_path / "test.csv", X)
    result = run_cli(
        "predict",
        "--model",
        cwd / "model.npz",
        "--data",
        "test.csv",
        "--out",
        "submission.csv",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "accuracy" not in result.stdout
    with open(tmp_path / "submission.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ImageId", "Label"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 51))
    labels = np.array([int(r[1]) for r in rows[1:]])
    assert set(labels) <= set(range(10))
    np.testing.assert_array_equal(labels, MLPClassifier.load(cwd / "model.npz").predict(X))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission.csv", "test.csv"]


def test_predict_on_labeled_data_prints_accuracy_and_plots(default_run, tmp_path):
    cwd, _ = default_run
    digits = load_embedded()
    write_kaggle_csv(tmp_path / "train.csv", digits.X[1::50], digits.y[1::50])
    result = run_cli(
        "predict",
        "--model",
        cwd / "model.npz",
        "--data",
        "train.csv",
        "--out",
        "out.csv",
        "--plots",
        "grid",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert float(summary_value(result.stdout, "accuracy")) >= 0.7
    assert (tmp_path / "grid" / "predictions.png").is_file()
    assert (tmp_path / "out.csv").read_text().startswith("ImageId,Label\n1,")


def test_huge_learning_rate_exits_3_and_saves_nothing(tmp_path):
    result = run_cli(
        "train",
        "--lr",
        "100",
        "--iterations",
        "100",
        "--save-model",
        "model.npz",
        "--plots",
        "figures",
        cwd=tmp_path,
    )
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "diverged" in result.stderr and "smaller learning rate" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_data_file_exits_2_without_traceback(tmp_path):
    (tmp_path / "bad.csv").write_text("label,pixel0\n3,\n")
    result = run_cli("train", "--data", "bad.csv", "--no-plots", cwd=tmp_path)
    assert result.returncode == 2
    assert "bad.csv" in result.stderr and "expected header" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("train", "--lr", "abc", cwd=tmp_path)
    assert result.returncode == 2 and "argument --lr" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_minibatch_numpy_float32_run_with_every_option(tmp_path):
    digits = load_embedded()
    write_kaggle_csv(tmp_path / "small.csv", digits.X[::10], digits.y[::10])  # 500 rows
    result = run_cli(
        "train",
        "--data",
        "small.csv",
        "--engine",
        "numpy",
        "--dtype",
        "float32",
        "--hidden",
        "32",
        "--batch-size",
        "50",
        "--epochs",
        "3",
        "--optimizer",
        "momentum",
        "--lr",
        "0.05",
        "--lr-schedule",
        "cosine",
        "--l2",
        "1e-4",
        "--seed",
        "3",
        "--dev-size",
        "100",
        "--threads",
        "1",
        "--no-plots",
        "--save-model",
        "m.npz",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "engine numpy" in result.stdout and "float32" in result.stdout
    assert len(re.findall(r"^epoch [123]/3 ", result.stdout, re.MULTILINE)) == 3
    assert float(summary_value(result.stdout, "time per epoch")) > 0
    model = MLPClassifier.load(tmp_path / "m.npz")
    assert model.params_.dtype == np.float32 and model.params_.sizes[1:-1] == (32,)
    settings = model.get_params()
    assert (settings["solver"], settings["momentum"], settings["nesterovs_momentum"]) == (
        "sgd",
        0.9,
        False,
    )  # --optimizer momentum in scikit-learn's terms
    assert settings["alpha"] == pytest.approx(1e-4 * 50)  # --l2 1e-4 at batch 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "small.csv"]


def test_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    digits = load_embedded()
    write_kaggle_csv(tmp_path / "small.csv", digits.X[:200], digits.y[:200])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code = main(
        [
            "train",
            "--data",
            str(tmp_path / "small.csv"),
            "--iterations",
            "30",
            "--dev-size",
            "50",
            "--no-plots",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "30/30" in err and "loss=" in err and "dev=" in err
    assert not re.search(r"^epoch ", out, re.MULTILINE)
    assert "dev accuracy:" in out


def test_help_lists_subcommands_and_train_does_not_import_bench(tmp_path):
    code = (
        "import sys; from mnistbench.cli import main; "
        "rc = main(['train', '--iterations', '2', '--no-plots', '--dev-size', '0']); "
        "print('bench imported' if 'mnistbench.bench' in sys.modules else 'no bench'); "
        "sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("no bench")
    assert "dev accuracy" not in result.stdout  # --dev-size 0: no dev set
    assert main(["--help"]) == 0


@pytest.mark.skipif(shutil.which("mnistbench") is None, reason="console script not installed")
def test_console_script_reports_its_version(tmp_path):
    result = subprocess.run(
        ["mnistbench", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=ENV,
        timeout=120,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("mnistbench ")


def test_bench_subcommand_loads_the_bench_module_only_when_asked(monkeypatch, capsys):
    bench = types.ModuleType("mnistbench.bench")
    bench.configure_parser = lambda parser: parser.add_argument("--quick", action="store_true")
    bench.run = lambda args: 7 if args.quick else 0
    monkeypatch.setitem(sys.modules, "mnistbench.bench", bench)
    # `from mnistbench import bench` reads the package attribute once the real one was imported
    monkeypatch.setattr(mnistbench, "bench", bench, raising=False)
    assert main(["bench", "--quick"]) == 7
    assert main(["bench", "--slow"]) == 2  # unknown to the bench module's parser
    assert "--slow" in capsys.readouterr().err


def test_train_layer_stack_reports_test_accuracy_and_saves_it(tmp_path):
    data = load_embedded()
    path = tmp_path / "test.csv"
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    rows = np.column_stack([data.y[:300], data.X[:300]])
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")
    model_path = tmp_path / "m.npz"
    result = run_cli(
        "train",
        "--hidden",
        "32,16",
        "--activation",
        "tanh",
        "--batch-size",
        "64",
        "--epochs",
        "3",
        "--optimizer",
        "adam",
        "--lr",
        "0.003",
        "--no-plots",
        "--test-data",
        path,
        "--save-model",
        model_path,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "hidden 32,16 tanh" in result.stdout
    accuracy = float(summary_value(result.stdout, "test accuracy"))
    model = MLPClassifier.load(model_path)
    assert model.hidden_layer_sizes == (32, 16) and model.activation == "tanh"
    assert model.init == "auto"  # He/Glorot by activation: only the seed network starts at +-0.5
    assert accuracy == pytest.approx(model.score(data.X[:300], data.y[:300]), abs=5e-5)
    assert accuracy > 0.8


MASK_AFTER_IMPORT = """
import signal, sys
if sys.argv[1] == "failing":
    sys.modules["mnistbench.cli.bench"] = None  # the import of one command fails
try:
    import mnistbench.cli
except ImportError:
    print("ImportError", end=" ")
print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, set())))
"""


@pytest.mark.parametrize("case", ["loading", "failing"])
def test_importing_the_cli_leaves_the_signal_mask_as_it_was(case):
    """The command line holds Ctrl-C back while it loads its commands, and only then."""
    result = subprocess.run(
        [sys.executable, "-c", MASK_AFTER_IMPORT, case], capture_output=True, text=True, env=ENV
    )
    assert result.returncode == 0, result.stderr
    expected = "ImportError []" if case == "failing" else "[]"
    assert result.stdout.strip() == expected
