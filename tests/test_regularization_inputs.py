"""Bad dropout / l1 / batch-norm settings: refused before any training, by the estimator
(scikit-learn's InvalidParameterError, a ValueError) and by ``mnistbench train`` (exit 2, the
message names the flag, no model file written)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from mnistbench import MLPClassifier
from mnistbench.cli import EXIT_BAD_INPUT, main
from mnistbench.reference.data import load_embedded, train_dev_split

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

BAD_SETTINGS = [
    (dict(dropout=1.0), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=-0.1), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=float("nan")), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout="0.2"), InvalidParameterError, "'dropout' parameter"),
    (dict(dropout=[0.2]), InvalidParameterError, r"one rate per hidden layer \(2\)"),
    (dict(dropout=(0.2, 1.5)), InvalidParameterError, r"Got \(0.2, 1.5\)"),
    (dict(dropout=(0.2, True)), InvalidParameterError, "'dropout' parameter"),
    (dict(l1=-1e-5), InvalidParameterError, "'l1' parameter"),
    (dict(l1=float("inf")), InvalidParameterError, "'l1' parameter"),
    (dict(batch_norm="yes"), InvalidParameterError, "'batch_norm' parameter"),
    (dict(bn_momentum=0.0), InvalidParameterError, "'bn_momentum' parameter"),
    (dict(bn_momentum=1.0), InvalidParameterError, "'bn_momentum' parameter"),
    (dict(solver="lbfgs", dropout=0.2), ValueError, "need a stochastic solver"),
    (dict(solver="lbfgs", batch_norm=True), ValueError, "need a stochastic solver"),
]


@pytest.fixture(scope="module")
def small():
    data = load_embedded()  # sorted by label: split (shuffled) first
    X, y, _, _ = train_dev_split(data.X, data.y)
    return X[:100], y[:100]


CASES = [
    (method, *case)
    for method in ("fit", "partial_fit")
    for case in BAD_SETTINGS
    if method == "fit" or case[0].get("solver") != "lbfgs"
]  # lbfgs has no partial_fit


@pytest.mark.parametrize(
    ("method", "settings", "error", "match"), CASES, ids=[f"{m}-{s}" for m, s, _, _ in CASES]
)
def test_bad_regularization_is_refused_before_training(small, method, settings, error, match):
    X, y = small
    epochs = []
    model = MLPClassifier(
        (8, 4), max_iter=2, random_state=0, callback=lambda *a: epochs.append(a), **settings
    )
    with pytest.raises(error, match=match):
        if method == "fit":
            model.fit(X, y)
        else:
            model.partial_fit(X, y, classes=np.arange(10))
    assert epochs == [] and not hasattr(model, "params_")


def test_l1_with_lbfgs_is_allowed_and_penalised(small):
    """L-BFGS minimises cross-entropy + l1 sum |W| (subgradient): smaller weights than without."""
    X, y = small
    plain = MLPClassifier((8,), solver="lbfgs", max_iter=30, random_state=0).fit(X, y)
    l1 = MLPClassifier((8,), solver="lbfgs", max_iter=30, random_state=0, l1=1e-2).fit(X, y)
    assert sum(np.abs(W).sum() for W in l1.coefs_) < 0.7 * sum(
        np.abs(W).sum() for W in plain.coefs_
    )


BAD_FLAGS = [
    (["--dropout", "1"], "--dropout: expected rates in [0, 1)"),
    (["--dropout", "0.2,-0.1"], "--dropout: expected rates in [0, 1)"),
    (["--dropout", "nan"], "--dropout: expected rates in [0, 1)"),
    (["--dropout", "0.2,x"], "--dropout: expected rates in [0, 1)"),
    (["--dropout", "0.2,0.1,0.1"], "--dropout needs one rate or one per hidden layer (2)"),
    (["--l1=-1e-5"], "--l1: expected a finite number >= 0"),
    (["--l1", "inf"], "--l1: expected a finite number >= 0"),
    (["--batch-norm", "--bn-momentum", "0"], "--bn-momentum: expected a momentum in (0, 1)"),
    (["--batch-norm", "--bn-momentum", "1.5"], "--bn-momentum: expected a momentum in (0, 1)"),
    (["--bn-momentum", "0.2"], "--bn-momentum needs --batch-norm"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_train_refuses_bad_regularization_flags(tmp_path, capsys, flags, message):
    model = tmp_path / "model.npz"
    argv = [
        "train",
        "--hidden",
        "16,8",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--no-plots",
        "--save-model",
        str(model),
        *flags,
    ]
    assert main(argv) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert message in captured.err
    assert "epoch" not in captured.out and not model.exists()


def test_train_with_every_regularization_flag_saves_a_batch_norm_model(tmp_path, capsys):
    model = tmp_path / "model.npz"
    argv = [
        "train",
        "--hidden",
        "16,8",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--no-plots",
        "--optimizer",
        "adam",
        "--lr",
        "3e-3",
        "--dropout",
        "0.2,0.1",
        "--l1",
        "1e-5",
        "--batch-norm",
        "--bn-momentum",
        "0.2",
        "--save-model",
        str(model),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "dropout (0.2, 0.1), l1 1e-05, batch norm (momentum 0.2)" in out
    loaded = MLPClassifier.load(model)
    assert loaded.batch_norm is True and loaded.bn_momentum == 0.2 and loaded.l1 == 1e-5
    assert loaded.batch_norm_state_.running.var[1].shape == (8,)
