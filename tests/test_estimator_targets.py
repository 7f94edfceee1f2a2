"""Targets beyond two or more classes: a single class and multilabel y, as scikit-learn fits them.

scikit-learn fits one class with one logistic output trained towards 0, predicts that class for
every row and reports ``predict_proba`` as ``[1 - p, p]`` (two columns). Ours trains two softmax
outputs with every row in the first (the same model in our layout), so the observable behaviour
is the same: the one class always, two probability columns that sum to 1, the first rising.

A multilabel y (a 2-D 0/1 indicator) trains one logistic output per label with binary
cross-entropy on either engine; predict returns the indicator ``proba > 0.5``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.neural_network._base import binary_log_loss

from mnistbench import MLPClassifier
from mnistbench.reference.tolerances import TRAJECTORY_TOL

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def one_class():
    """40 rows of 6 features, all labelled "cat"."""
    X = np.random.default_rng(0).normal(size=(40, 6))
    return X, np.full(40, "cat")


def _quiet_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_single_class_predicts_it_everywhere_like_scikit_learn(one_class, engine, solver):
    X, y = one_class
    settings = dict(hidden_layer_sizes=(5,), max_iter=30, random_state=0, solver=solver)
    ours = _quiet_fit(MLPClassifier(engine=engine, **settings), X, y)
    theirs = _quiet_fit(SklearnMLP(**settings), X, y)
    X_new = np.random.default_rng(1).normal(scale=3.0, size=(25, 6))
    assert ours.classes_.tolist() == theirs.classes_.tolist() == ["cat"]
    assert ours.predict(X_new).tolist() == theirs.predict(X_new).tolist() == ["cat"] * 25
    proba = ours.predict_proba(X_new)
    assert proba.shape == theirs.predict_proba(X_new).shape == (25, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert ours.score(X, y) == theirs.score(X, y) == 1.0
    assert ours.n_outputs_ == 2 and ours.params_.n_out == 2  # two softmax units (theirs: 1)
    assert ours.loss_curve_[-1] < ours.loss_curve_[0]  # it trains: class 0's column rises


def test_single_class_training_raises_its_probability(one_class):
    X, y = one_class
    short = _quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0), X, y)
    long = _quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=300, random_state=0), X, y)
    assert long.predict_proba(X)[:, 0].mean() > short.predict_proba(X)[:, 0].mean() + 0.1
    assert long.predict_proba(X)[:, 0].mean() > 0.8


def test_single_class_partial_fit_continues_and_keeps_the_class(one_class):
    X, y = one_class
    clf = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    clf.partial_fit(X, y, classes=["cat"])
    first = clf.loss_
    for _ in range(20):
        clf.partial_fit(X, y)
    assert clf.loss_ < first
    assert clf.predict(X[:3]).tolist() == ["cat"] * 3
    assert clf.t_ == 21 * len(X)
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, np.full(len(X), "dog"))


def test_single_class_with_early_stopping_and_warm_start(one_class):
    X, y = one_class
    clf = MLPClassifier(hidden_layer_sizes=(5,), early_stopping=True, random_state=0)
    clf = _quiet_fit(clf, X, y)
    assert clf.validation_scores_ and max(clf.validation_scores_) == 1.0
    warm = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, warm_start=True, random_state=0)
    _quiet_fit(warm, X, y)
    _quiet_fit(warm, X, y)
    assert warm.t_ == 6 * len(X)
    with pytest.raises(ValueError, match="same classes"):
        warm.fit(X, np.where(np.arange(len(X)) % 2, "cat", "dog"))


def test_single_class_model_file_round_trips(one_class, tmp_path):
    X, y = one_class
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0), X, y)
    loaded = MLPClassifier.load(clf.save(tmp_path / "one.npz"))
    assert loaded.classes_.tolist() == ["cat"]
    assert loaded.predict(X).tolist() == ["cat"] * len(X)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


# Multilabel: a 2-D 0/1 indicator y, one logistic output per label, binary cross-entropy.


@pytest.fixture(scope="module")
def multilabel():
    """scikit-learn's make_multilabel_classification: X (60, 20), Y (60, 5) 0/1."""
    X, Y = make_multilabel_classification(n_samples=60, random_state=0, return_indicator=True)
    return X / X.max(), Y


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_multilabel_fits_sigmoid_outputs_like_scikit_learn(multilabel, engine, solver):
    X, Y = multilabel
    settings = dict(hidden_layer_sizes=(30,), max_iter=300, random_state=0, solver=solver)
    clf = _quiet_fit(MLPClassifier(engine=engine, learning_rate_init=0.01, **settings), X, Y)
    assert clf.classes_.tolist() == list(range(5))
    assert (clf.n_outputs_, clf.out_activation_) == (5, "logistic")
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape and not np.allclose(proba.sum(axis=1), 1.0)
    prediction = clf.predict(X)
    np.testing.assert_array_equal(prediction, (proba > 0.5).astype(int))
    assert clf.score(X, Y) == np.mean(np.all(prediction == Y, axis=1)) > 0.9
    # The loss is scikit-learn's binary log loss (+ the L2 term, tiny at alpha=1e-4).
    expected = binary_log_loss(Y, proba)
    assert clf.log_loss(X, Y) == pytest.approx(expected, rel=1e-6)
    theirs = _quiet_fit(SklearnMLP(learning_rate_init=0.01, **settings), X, Y)
    assert theirs.score(X, Y) > 0.9  # the same problem is as learnable there


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multilabel_engines_agree(multilabel, dtype):
    X, Y = multilabel
    X = X.astype(dtype)
    settings = dict(hidden_layer_sizes=(16, 8), activation="tanh", max_iter=5, random_state=1)
    fast = _quiet_fit(MLPClassifier(**settings), X, Y)
    slow = _quiet_fit(MLPClassifier(engine="numpy", **settings), X, Y)
    atol, rtol = TRAJECTORY_TOL[np.dtype(dtype)]
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, atol=atol, rtol=rtol)
    np.testing.assert_allclose(fast.predict_proba(X), slow.predict_proba(X), atol=atol, rtol=rtol)
    assert fast.predict_proba(X).dtype == dtype


def test_multilabel_partial_fit_warm_start_and_early_stopping(multilabel):
    X, Y = multilabel
    clf = MLPClassifier(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=0.2)
    for _ in range(30):
        clf.partial_fit(X, Y, classes=[0, 1, 2, 3, 4])
    assert clf.t_ == 30 * len(X) and clf.loss_ < clf.loss_curve_[0]
    with pytest.raises(ValueError, match="fitted on a multilabel indicator but y is one label"):
        clf.partial_fit(X, Y[:, 0])
    warm = MLPClassifier(hidden_layer_sizes=(20,), max_iter=3, warm_start=True, random_state=0)
    _quiet_fit(warm, X, Y)
    _quiet_fit(warm, X, Y)
    assert warm.t_ == 6 * len(X)
    early = _quiet_fit(MLPClassifier(early_stopping=True, random_state=0), X, Y)
    assert all(0.0 <= s <= 1.0 for s in early.validation_scores_)
    assert early.predict(X).shape == Y.shape


def test_multilabel_sparse_X_and_model_file(multilabel, tmp_path):
    X, Y = multilabel
    settings = dict(hidden_layer_sizes=(12,), max_iter=4, random_state=0)
    dense = _quiet_fit(MLPClassifier(**settings), X, Y)
    sparse = _quiet_fit(MLPClassifier(**settings), scipy.sparse.csr_matrix(X), Y)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X), rtol=1e-10)
    loaded = MLPClassifier.load(dense.save(tmp_path / "multilabel.npz"))
    assert loaded.out_activation_ == "logistic"
    np.testing.assert_array_equal(loaded.predict_proba(X), dense.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), dense.predict(X))


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        (dict(dropout=0.2), "without dropout, l1, batch_norm and augment"),
        (dict(l1=1e-4), "without dropout, l1, batch_norm and augment"),
        (dict(batch_norm=True), "without dropout, l1, batch_norm and augment"),
    ],
    ids=["dropout", "l1", "batch_norm"],
)
def test_multilabel_refuses_what_it_cannot_train(multilabel, settings, match):
    X, Y = multilabel
    with pytest.raises(ValueError, match=match):
        MLPClassifier(max_iter=2, **settings).fit(X, Y)
    with pytest.raises(ValueError, match="X_dev/y_dev are not supported with multilabel"):
        MLPClassifier(max_iter=2).fit(X, Y, X_dev=X, y_dev=Y)
    fitted = _quiet_fit(MLPClassifier(max_iter=2, warm_start=True), X, Y[:, 0])
    with pytest.raises(ValueError, match="fitted on one label per row but y is a multilabel"):
        fitted.fit(X, Y)
    three_values = Y.copy()
    three_values[0, 0] = 2  # multiclass-multioutput, not an indicator
    with pytest.raises(ValueError, match="y should be a 1d array"):
        MLPClassifier(max_iter=2).fit(X, three_values)
