"""MLPClassifier inside scikit-learn: check_estimator, model selection, pipelines, any data.

Data is scikit-learn's 8x8 ``load_digits`` (1,797 rows, 64 features, 10 classes) scaled to
[0, 1], so every fit here takes well under a second. Accuracy floors leave room below what was
measured (in each test's docstring).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mnistbench.estimator import MLPClassifier
from mnistbench.estimator._progress import Plan, Progress
from mnistbench.kernels import _jit_seed
from mnistbench.reference.optim import OptimizerConfig, init_state, optimizer_step
from mnistbench.reference.training import TrainConfig

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    """load_digits / 16, stratified 75/25 split (seed 0)."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, random_state=0, stratify=y)


# scikit-learn checks its own MLPClassifier with max_iter=100; 60 epochs at the default Adam
# rate already pass its accuracy check (> 0.83 on scaled blobs). Nothing is marked as an
# expected failure: every check applies to a dense-input multiclass classifier. One check
# skips itself unless SCIPY_ARRAY_API=1 was set before SciPy was imported: the next test runs
# it in a fresh interpreter.
@parametrize_with_checks([MLPClassifier(max_iter=60)])
def test_check_estimator(estimator, check):
    check(estimator)


ARRAY_API_CHECK = """
from sklearn.utils.estimator_checks import check_array_api_input
from mnistbench import MLPClassifier
check_array_api_input("MLPClassifier", MLPClassifier(max_iter=60), array_namespace="numpy",
                      expect_only_array_outputs=False)
print("passed")
"""


def test_check_array_api_input_with_numpy_passes_in_a_fresh_interpreter():
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", ARRAY_API_CHECK],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "passed"


def test_cross_val_score_on_64_feature_digits(digits):
    """Measured 0.95-0.96 per fold (hidden 64, 30 Adam epochs); floor 0.90."""
    X, _, y, _ = digits
    scores = cross_val_score(MLPClassifier(64, max_iter=30, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() >= 0.90, scores


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_hidden_layer_sizes_and_learning_rate_init(digits, n_jobs):
    """Every candidate scored, the refit best model predicts the held-out rows (>= 0.90)."""
    X, X_test, y, y_test = digits
    grid = {"hidden_layer_sizes": [(16,), (64,)], "learning_rate_init": [1e-3, 1e-2]}
    search = GridSearchCV(MLPClassifier(max_iter=20, random_state=0), grid, cv=3, n_jobs=n_jobs)
    search.fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["hidden_layer_sizes"] in grid["hidden_layer_sizes"]
    assert search.best_estimator_.score(X_test, y_test) >= 0.90


def test_pipelines_with_a_scaler_and_a_function_transformer(digits):
    """StandardScaler (negative inputs) and a FunctionTransformer in front: both >= 0.90."""
    X, X_test, y, y_test = digits
    for first in (StandardScaler(), FunctionTransformer(np.sqrt)):
        pipeline = make_pipeline(first, MLPClassifier(64, max_iter=30, random_state=0))
        assert pipeline.fit(X, y).score(X_test, y_test) >= 0.90


def test_dataframe_columns_become_feature_names(digits):
    pd = pytest.importorskip("pandas")
    X, X_test, y, _ = digits
    columns = [f"pixel_{i}" for i in range(64)]
    model = MLPClassifier(16, max_iter=5, random_state=0).fit(pd.DataFrame(X, columns=columns), y)
    np.testing.assert_array_equal(model.feature_names_in_, columns)
    assert model.n_features_in_ == 64
    same = model.predict(pd.DataFrame(X_test, columns=columns))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_array_equal(same, model.predict(X_test))
    with pytest.raises(ValueError, match="The feature names should match"):
        model.predict(pd.DataFrame(X_test, columns=columns[::-1]))


def test_string_labels_come_back_as_strings(digits):
    """Any hashable labels: classes_ sorted, predictions in the caller's vocabulary."""
    X, X_test, y, y_test = digits
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    model = MLPClassifier(64, max_iter=30, random_state=0).fit(X, names[y].tolist())
    np.testing.assert_array_equal(model.classes_, np.sort(names))
    proba = model.predict_proba(X_test)  # columns follow classes_
    np.testing.assert_array_equal(model.predict(X_test), model.classes_[proba.argmax(axis=1)])
    assert model.score(X_test, names[y_test]) >= 0.90


def test_binary_problem_and_a_single_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    model = MLPClassifier(8, max_iter=50, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert model.predict_proba(X).shape == (200, 2) and model.n_outputs_ == 2
    assert model.score(X, y) >= 0.95  # measured 0.99


@pytest.mark.parametrize(
    "settings",
    [
        dict(hidden_layer_sizes=(64,), max_iter=30),
        dict(hidden_layer_sizes=(64,), solver="sgd", learning_rate_init=0.1, max_iter=30),
        dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=100),
    ],
    ids=["adam", "sgd_nesterov", "lbfgs"],
)
def test_same_parameters_same_accuracy_as_scikit_learn(digits, settings):
    """One parameter dict, both classes: measured 0.942/0.947 (adam), 0.978/0.978 (sgd),
    0.962/0.967 (lbfgs) test accuracy (scikit-learn / ours); within 0.03 of each other."""
    X, X_test, y, y_test = digits
    theirs = SklearnMLP(**settings, random_state=0).fit(X, y).score(X_test, y_test)
    ours = MLPClassifier(**settings, random_state=0).fit(X, y).score(X_test, y_test)
    assert ours >= 0.93 and abs(ours - theirs) <= 0.03, (ours, theirs)


@pytest.mark.parametrize(
    "settings",
    [
        dict(tol=10.0, n_iter_no_change=1),
        dict(
            solver="sgd",
            learning_rate="adaptive",
            learning_rate_init=0.1,
            tol=10.0,
            n_iter_no_change=2,
        ),
    ],
    ids=["tol", "adaptive"],
)
def test_stopping_rule_stops_where_scikit_learns_does(digits, settings):
    """A tol no epoch can beat: training stops after n_iter_no_change + 2 epochs (3), and
    adaptive divides the rate by 5 until it is <= 1e-6 (28 epochs), as scikit-learn does."""
    X, _, y, _ = digits
    kwargs = dict(hidden_layer_sizes=(32,), max_iter=200, random_state=0, **settings)
    ours, theirs = MLPClassifier(**kwargs).fit(X, y), SklearnMLP(**kwargs).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 200
    assert len(ours.loss_curve_) == ours.n_iter_ and ours.best_loss_ == min(ours.loss_curve_)


def test_early_stopping_keeps_the_best_validation_weights(digits):
    X, _, y, _ = digits
    model = MLPClassifier(
        32, early_stopping=True, n_iter_no_change=3, tol=1e-3, max_iter=200, random_state=0
    ).fit(X, y)
    assert model.n_iter_ < 200 and len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_) >= 0.85
    assert model.best_loss_ is None
    _, X_val, _, y_val = train_test_split(X, y, random_state=0, test_size=0.1, stratify=y)
    assert model.score(X_val, y_val) == pytest.approx(model.best_validation_score_, abs=1e-12)


def test_alpha_means_what_it_means_in_scikit_learn(digits):
    """lbfgs minimises mean log-loss + 0.5 * alpha * |W|^2 / n_samples: loss_ is exactly that."""
    X, _, y, _ = digits
    model = MLPClassifier(16, solver="lbfgs", alpha=3.0, max_iter=20, random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    data_loss = -np.mean(np.log(proba[np.arange(len(y)), y]))
    penalty = 0.5 * 3.0 * sum(float(np.sum(W**2)) for W in model.coefs_) / len(y)
    assert model.loss_ == pytest.approx(data_loss + penalty, rel=1e-10)


def test_warm_start_continues_from_the_fitted_weights(digits):
    X, _, y, _ = digits
    model = MLPClassifier(16, max_iter=3, warm_start=True, random_state=0).fit(X, y)
    first = list(model.loss_curve_)
    model.fit(X, y)
    assert model.loss_curve_[:3] == first and len(model.loss_curve_) == 6
    assert model.loss_curve_[3] < first[0]  # started from trained weights, not afresh


def test_random_state_none_uses_numpys_global_generator(digits):
    X, _, y, _ = digits
    fits = []
    for _ in range(2):
        np.random.seed(5)  # noqa: NPY002 (scikit-learn's None means this generator)
        fits.append(MLPClassifier(8, max_iter=2).fit(X, y).coefs_[0])
    np.testing.assert_array_equal(*fits)


def test_verbose_prints_scikit_learns_iteration_lines(digits, capsys):
    X, _, y, _ = digits
    MLPClassifier(8, max_iter=2, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2"]


def test_invscaling_rate_falls_with_the_samples_seen():
    """scikit-learn: rate = learning_rate_init / (t + 1) ** power_t, t = samples seen."""
    config = TrainConfig(batch_size=10, epochs=5, learning_rate=0.5)
    plan = Plan(
        engine=None,
        config=config,
        optimizer=OptimizerConfig("sgd"),
        learning_rate="invscaling",
        power_t=0.25,
        tol=1e-4,
        n_iter_no_change=10,
        shuffle=True,
        verbose=False,
    )
    progress = Progress(state=None, rng=None, initial_loss=1.0, samples_seen=0)
    assert progress.learning_rate(plan, 0) == 0.5
    progress.samples_seen = progress.rate_samples = 80
    assert progress.learning_rate(plan, 1) == pytest.approx(0.5 / 81**0.25, rel=1e-15)


# Nesterov momentum (mu = 0.9, lr 0.1, PyTorch's form v = mu v + g; p -= lr (g + mu v)):
#   step 1, g = [0.5, -1]: v = [0.5, -1];     p = [1, -2] - 0.1 [0.95, -1.9] = [0.905, -1.81]
#   step 2, g = [0.1, 0.2]: v = [0.55, -0.7]; p -= 0.1 [0.595, -0.43]       = [0.8455, -1.767]
NESTEROV_P = ([0.905, -1.81], [0.8455, -1.767])


def test_nesterov_momentum_matches_hand_computed_steps_in_both_engines():
    config = OptimizerConfig("momentum", nesterov=True)
    params = (np.array([1.0, -2.0]),)
    state = init_state(params)
    p, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for step, g in enumerate((np.array([0.5, -1.0]), np.array([0.1, 0.2]))):
        params = optimizer_step(params, (g,), state, 0.1, config)
        _jit_seed.optimizer_update(p, g, m, v, 0.1, config.code, 0.9, 0.9, 0.999, 1e-8, step + 1)
        np.testing.assert_allclose(params[0], NESTEROV_P[step], rtol=0, atol=1e-14)
        np.testing.assert_allclose(p, NESTEROV_P[step], rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="nesterov=True needs optimizer 'momentum'"):
        OptimizerConfig("adam", nesterov=True)
