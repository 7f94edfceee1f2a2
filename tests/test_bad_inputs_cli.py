"""Bad input on the command line: exit status 2, a message naming the problem, no traceback,
and no output file left behind."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bad_cases import X_OK, Y_OK
from mnistbench.cli import main
from mnistbench.estimator import MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory):
    """A small labeled Kaggle train.csv, an unlabeled test.csv and broken files."""
    directory = tmp_path_factory.mktemp("csv")
    header = ",".join(f"pixel{i}" for i in range(784))
    rows = [f"{y}," + ",".join(map(str, x)) for x, y in zip(X_OK, Y_OK, strict=True)]
    (directory / "train.csv").write_text(f"label,{header}\n" + "\n".join(rows) + "\n")
    test_rows = [",".join(map(str, x)) for x in X_OK[:10]]
    (directory / "test.csv").write_text(f"{header}\n" + "\n".join(test_rows) + "\n")
    narrow = [",".join(map(str, x[:783])) for x in X_OK[:10]]
    header_783 = ",".join(f"pixel{i}" for i in range(783))
    (directory / "narrow.csv").write_text(f"{header_783}\n" + "\n".join(narrow) + "\n")
    text = (directory / "train.csv").read_text()
    (directory / "truncated.csv").write_text(text[: len(text) // 3])
    (directory / "garbage.csv").write_bytes(np.random.default_rng(1).bytes(5000))
    (directory / "empty.csv").write_text("")
    bad_label = text.replace("\n" + str(Y_OK[0]) + ",", "\n12,", 1)
    (directory / "label_12.csv").write_text(bad_label)
    (directory / "nan.csv").write_text(text.replace(",0,", ",nan,", 1))
    model = MLPClassifier(8, max_iter=3, random_state=0).fit(X_OK, Y_OK)
    model.save(directory / "model.npz")
    np.savez(directory / "wrong_shape.npz", W1=np.zeros((8, 783)), b1=np.zeros(8))
    (directory / "not_a_model.npz").write_text("hello")
    return directory


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


CLI_BAD = [
    ("train", "--data", "{d}/missing.csv"),
    ("train", "--data", "{d}/garbage.csv"),
    ("train", "--data", "{d}/truncated.csv"),
    ("train", "--data", "{d}/empty.csv"),
    ("train", "--data", "{d}/narrow.csv"),
    ("train", "--data", "{d}/label_12.csv"),
    ("train", "--data", "{d}/nan.csv"),
    ("train", "--data", "{d}/test.csv"),  # unlabeled: cannot train
    ("train", "--data", "{d}/train.csv", "--batch-size", "1000"),
    ("train", "--data", "{d}/train.csv", "--dev-size", "50"),
    ("train", "--data", "{d}/train.csv", "--threads", "9999"),
    ("train", "--data", "{d}/train.csv", "--dev-size", "10", "--save-model", "{o}/no/m.npz"),
    ("train", "--data", "{d}/train.csv", "--dev-size", "10", "--save-model", "{o}"),
    ("train", "--data", "{d}/train.csv", "--dev-size", "10", "--plots", "{d}/test.csv"),
    ("train", "--hidden", "0"),
    ("train", "--hidden", "ten"),
    ("train", "--hidden", "-3"),
    ("train", "--hidden", "2.5"),
    ("train", "--hidden", "a,b"),
    ("train", "--hidden", ""),
    ("train", "--hidden", "512,0"),
    ("train", "--activation", "swish"),
    ("train", "--init", "xavier"),
    ("train", "--data", "{d}/train.csv", "--test-data", "{d}/missing.csv"),
    ("train", "--data", "{d}/train.csv", "--test-data", "{d}/test.csv"),  # unlabeled
    ("train", "--lr", "-1"),
    ("train", "--lr", "nan"),
    ("train", "--lr", "0"),
    ("train", "--batch-size", "0"),
    ("train", "--iterations", "0"),
    ("train", "--iterations", "5", "--epochs", "5"),
    ("train", "--optimizer", "rmsprop"),
    ("train", "--dtype", "float16"),
    ("train", "--l2", "-1"),
    ("train", "--bogus-flag"),
    ("predict", "--model", "{d}/missing.npz", "--data", "{d}/test.csv", "--out", "{o}/s.csv"),
    ("predict", "--model", "{d}/not_a_model.npz", "--data", "{d}/test.csv", "--out", "{o}/s.csv"),
    ("predict", "--model", "{d}/wrong_shape.npz", "--data", "{d}/test.csv", "--out", "{o}/s.csv"),
    ("predict", "--model", "{d}/test.csv", "--data", "{d}/test.csv", "--out", "{o}/s.csv"),
    ("predict", "--model", "{d}/model.npz", "--data", "{d}/narrow.csv", "--out", "{o}/s.csv"),
    ("predict", "--model", "{d}/model.npz", "--data", "{d}/garbage.csv", "--out", "{o}/s.csv"),
    ("predict", "--model", "{d}/model.npz", "--data", "{d}/test.csv", "--out", "{o}/no/s.csv"),
    ("predict", "--model", "{d}/model.npz", "--data", "{d}/test.csv", "--out", "{o}"),
    ("predict", "--data", "{d}/test.csv"),  # --model is required
    (),
    ("frobnicate",),
]


@pytest.mark.parametrize("argv", CLI_BAD, ids=[" ".join(a) or "no-args" for a in CLI_BAD])
def test_cli_bad_input_exits_2_with_a_message_and_no_output(capsys, tmp_path, csv_dir, argv):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = [a.format(d=csv_dir, o=out_dir) for a in argv]
    args += ["--no-plots"] if argv[:1] == ("train",) and "--plots" not in argv else []
    before = sorted(os.listdir(csv_dir))
    code, out, err = _cli(capsys, *args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert "error" in err.lower() and len(err.strip()) > 20, err
    assert list(out_dir.iterdir()) == []
    assert sorted(os.listdir(csv_dir)) == before


def test_cli_missing_file_message_names_the_file(capsys, csv_dir):
    code, _, err = _cli(capsys, "train", "--data", str(csv_dir / "missing.csv"), "--no-plots")
    assert code == 2
    assert "missing.csv" in err
