"""``mnistbench train``'s defaults: --lr by optimizer and batch mode, and --help that shows them."""

from __future__ import annotations

import re

import pytest

from mnistbench.cli import build_parser, main
from mnistbench.cli.train import DEFAULT_LR, default_learning_rate
from mnistbench.estimator import MLPClassifier

# (optimizer, --batch-size or None for full batch, the --lr it trains with when none is given)
EXPECTED_LR = [
    ("sgd", None, 0.1),  # the seed notebook's alpha = 0.10, full-batch gradient descent
    ("sgd", 500, 0.01),
    ("momentum", None, 0.01),
    ("momentum", 500, 1e-3),  # scikit-learn's learning_rate_init (its sgd has momentum 0.9)
    ("adam", None, 1e-3),  # scikit-learn's learning_rate_init, PyTorch's Adam lr
    ("adam", 500, 1e-3),
]


def _train(tmp_path, monkeypatch, capsys, *flags: str) -> tuple[str, MLPClassifier]:
    """One NumPy-engine epoch on the embedded digits; the 'training on' line and the model."""
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "train",
            "--engine",
            "numpy",
            "--epochs",
            "1",
            "--no-plots",
            "--save-model",
            "model.npz",
            *flags,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    return out.splitlines()[0], MLPClassifier.load(tmp_path / "model.npz")


@pytest.mark.parametrize(("optimizer", "batch_size", "lr"), EXPECTED_LR)
def test_default_learning_rate_depends_on_optimizer_and_batch_mode(optimizer, batch_size, lr):
    assert default_learning_rate(optimizer, full_batch=batch_size is None) == lr


def test_parsed_lr_is_none_until_the_optimizer_is_known():
    args = build_parser().parse_args(["train", "--optimizer", "adam"])
    assert args.lr is None and args.optimizer == "adam"
    args = build_parser().parse_args(["train", "--lr", "0.25"])
    assert args.lr == 0.25


@pytest.mark.parametrize(("optimizer", "batch_size", "lr"), EXPECTED_LR)
def test_train_uses_the_optimizers_default_lr(
    optimizer, batch_size, lr, tmp_path, monkeypatch, capsys
):
    batch = [] if batch_size is None else ["--batch-size", str(batch_size)]
    line, model = _train(tmp_path, monkeypatch, capsys, "--optimizer", optimizer, *batch)
    assert f"{optimizer} lr {lr:g} (constant)" in line
    assert model.learning_rate_init == lr


def test_an_explicit_lr_wins_over_every_default(tmp_path, monkeypatch, capsys):
    line, model = _train(tmp_path, monkeypatch, capsys, "--optimizer", "adam", "--lr", "0.005")
    assert "adam lr 0.005 (constant)" in line
    assert model.learning_rate_init == 0.005


def _help(capsys) -> str:
    assert main(["train", "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: join the words


def test_help_shows_every_default_learning_rate(capsys):
    text = _help(capsys)
    lr_help = re.search(r"--lr LR (.*?) --iterations", text).group(1)
    assert "sgd 0.1 full batch, 0.01 with --batch-size" in lr_help
    assert "momentum 0.01 full batch, 0.001 with --batch-size" in lr_help
    assert "adam 0.001" in lr_help
    for full, mini in DEFAULT_LR.values():
        assert f"{full:g}" in lr_help and f"{mini:g}" in lr_help


@pytest.mark.parametrize(
    ("flag", "choices", "default"),
    [
        ("--engine", "numba, numpy", "numba"),
        ("--optimizer", "sgd, momentum, adam", "sgd"),
        ("--lr-schedule", "constant, step, cosine", "constant"),
        ("--dtype", "float64, float32", "float64"),
    ],
)
def test_help_names_choices_and_default(flag, choices, default, capsys):
    text = _help(capsys)
    entry = re.search(rf" {flag} {{\S+}} (.*?\(choices: [^;]*; default: \S+\))", text)
    assert entry, f"no help entry for {flag} in: {text}"
    assert f"(choices: {choices}; default: {default})" in entry.group(1)


def test_help_shows_zero_defaults(capsys):
    text = _help(capsys)
    assert "--l2 L2 L2 on weights (default: 0.0)" in text
    assert "--seed SEED init and shuffling (default: 0)" in text
