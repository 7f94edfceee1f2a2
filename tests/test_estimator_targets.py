"""Targets beyond two or more classes: a single class, as scikit-learn's MLPClassifier fits it.

scikit-learn fits one class with one logistic output trained towards 0, predicts that class for
every row and reports ``predict_proba`` as ``[1 - p, p]`` (two columns). Ours trains two softmax
outputs with every row in the first (the same model in our layout), so the observable behaviour
is the same: the one class always, two probability columns that sum to 1, the first rising.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLP

from mnistbench import MLPClassifier

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
