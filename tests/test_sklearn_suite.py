"""scikit-learn's own ``test_mlp.py`` run against our MLPClassifier: the drop-in claim, tested.

At test time the installed scikit-learn's ``sklearn/neural_network/tests/test_mlp.py`` is
copied into a temp folder, its import is rewritten so ``MLPClassifier`` is
:class:`mnistbench.MLPClassifier` (``MLPRegressor`` stays scikit-learn's), and pytest runs it in
a subprocess (the suite follows whatever scikit-learn is installed; skipped where the wheel
ships no tests). What is left out or expected to fail is listed here, once:

* :data:`REGRESSOR_ONLY`: tests (or parametrizations) of ``MLPRegressor`` alone;
* :data:`PRIVATE_STATE`: tests that read (or set, or match) scikit-learn's private state,
  each with the reason and, where there is one, our test asserting the public equivalent;
* :data:`KNOWN_DEFECTS`: real defects not fixed yet, run as strict expected failures, so this
  module stays green and the list shrinks (an unexpected pass fails) as they are fixed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from mnistbench import MLPClassifier

SKLEARN_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
OUR_IMPORT = "from sklearn.neural_network import MLPRegressor\nfrom mnistbench import MLPClassifier"

# Tests of MLPRegressor alone; a test parametrized over both estimators keeps its
# MLPClassifier case (ids containing "MLPRegressor" are left out).
REGRESSOR_ONLY = {
    "test_lbfgs_regression",
    "test_lbfgs_regression_maxfun",
    "test_multioutput_regression",
    "test_partial_fit_regression",
    "test_nonfinite_params",
    "test_shuffle",
    "test_mlp_regressor_dtypes_casting",
    "test_mlp_loading_from_joblib_partial_fit",
    "test_mlp_diverging_loss",
    "test_mlp_sample_weight_with_early_stopping",
    "test_mlp_vs_poisson_glm_equivalent",
    "test_minimum_input_sample_size",
}

# test name -> (why it cannot run on ours, our test of the public equivalent or None).
PRIVATE_STATE: dict[str, tuple[str, str | None]] = {
    "test_gradient": (
        "calls scikit-learn's private _loss_grad_lbfgs(theta, X, Y, ...) with its buffers",
        "tests/test_sklearn_suite.py::test_gradient_matches_finite_differences",
    ),
    "test_learning_rate_warmstart": (
        "reads _optimizer.learning_rate (scikit-learn's optimizer object)",
        "tests/test_sklearn_suite.py::test_warm_start_matches_scikit_learn_from_the_same_weights",
    ),
    "test_adaptive_learning_rate": (
        "reads _optimizer.learning_rate (scikit-learn's optimizer object)",
        "tests/test_sklearn_suite.py::test_adaptive_learning_rate_falls_below_1e_6",
    ),
    "test_n_iter_no_change": (
        "reads _no_improvement_count",
        "tests/test_sklearn_suite.py::test_no_improvement_count_stops_fit",
    ),
    "test_fit": (
        "a worked example in scikit-learn's internals: sets its private optimizer buffers "
        "(_coef_velocity, _no_improvement_count, ...) and a one-logistic-unit binary output "
        "layer, (2, 1); ours has two softmax outputs (deliberate: README, where it differs)",
        "tests/test_estimator_dropin.py::"
        "test_assigned_weights_on_an_unfitted_estimator_start_partial_fit",
    ),
    "test_early_stopping_stratified": (
        "matches scikit-learn's internal encoding of y ('True', its binarized label) in the "
        "split's message; ours names the user's label, [1]",
        "tests/test_estimator_dropin.py::test_stratification_error_names_the_users_labels",
    ),
    "test_n_iter_no_change_inf": (
        "reads _no_improvement_count",
        "tests/test_sklearn_suite.py::test_no_improvement_count_stops_fit",
    ),
}

# test id (name or name[params]) -> the defect that makes it fail. Strict: a pass fails.
KNOWN_DEFECTS: dict[str, str] = {}


def sklearn_test_file() -> Path | None:
    """The installed scikit-learn's test_mlp.py, or None where the wheel has no tests."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "neural_network" / "tests" / "test_mlp.py"
    return path if path.is_file() else None


CONFTEST = """
import json
from pathlib import Path

import pytest

LISTS = json.loads((Path(__file__).parent / "lists.json").read_text())


def pytest_collection_modifyitems(config, items):
    kept, left_out = [], []
    for item in items:
        name = item.originalname or item.name
        if (name in LISTS["regressor_only"] or "MLPRegressor" in item.name
                or name in LISTS["private_state"]):
            left_out.append(item)
            continue
        reason = LISTS["known_defects"].get(item.name) or LISTS["known_defects"].get(name)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        kept.append(item)
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept
"""


def run_suite(folder: Path) -> dict[str, str]:
    """Run the rewritten copy in ``folder``: {test id: passed/failed/xfailed/skipped}."""
    source = sklearn_test_file().read_text()
    assert source.count(SKLEARN_IMPORT) == 1, "scikit-learn's test_mlp.py changed its import"
    (folder / "test_mlp.py").write_text(source.replace(SKLEARN_IMPORT, OUR_IMPORT))
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "pytest.ini").write_text("[pytest]\n")
    lists = {
        "regressor_only": sorted(REGRESSOR_ONLY),
        "private_state": sorted(PRIVATE_STATE),
        "known_defects": KNOWN_DEFECTS,
    }
    (folder / "lists.json").write_text(json.dumps(lists))
    report = folder / "report.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--junitxml={report}",
            "test_mlp.py",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        if "failure" in kinds or "error" in kinds:
            outcome = "failed"
        elif "skipped" in kinds:
            skipped = case.find("skipped")
            outcome = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        else:
            outcome = "passed"
        outcomes[case.get("name")] = outcome
    outcomes["__output__"] = result.stdout[-6000:] + result.stderr[-2000:]
    return outcomes


def test_every_listed_test_exists_in_scikit_learn():
    """The lists name tests of the installed test_mlp.py (no stale entries)."""
    path = sklearn_test_file()
    if path is None:
        pytest.skip("the installed scikit-learn wheel ships no tests")
    source = path.read_text()
    names = {*REGRESSOR_ONLY, *PRIVATE_STATE, *(k.split("[")[0] for k in KNOWN_DEFECTS)}
    missing = sorted(name for name in names if f"def {name}(" not in source)
    assert missing == []
    assert not set(PRIVATE_STATE) & set(REGRESSOR_ONLY)


@pytest.mark.slow
def test_scikit_learn_mlp_classifier_suite_passes_on_ours(tmp_path):
    """Every classifier test passes but the listed private-state ones (left out) and the
    listed defects (strict xfail)."""
    if sklearn_test_file() is None:
        pytest.skip("the installed scikit-learn wheel ships no tests")
    outcomes = run_suite(tmp_path)
    output = outcomes.pop("__output__")
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert failed == [], output
    xfailed = {name for name, outcome in outcomes.items() if outcome == "xfailed"}
    expected = {
        name for name in outcomes if name in KNOWN_DEFECTS or name.split("[")[0] in KNOWN_DEFECTS
    }
    assert xfailed == expected, output
    passed = sum(outcome == "passed" for outcome in outcomes.values())
    assert passed >= 27, output
    assert not any("MLPRegressor" in name for name in outcomes)
    assert not set(outcomes) & (set(PRIVATE_STATE) | REGRESSOR_ONLY)


def test_private_state_reasons_name_their_public_test():
    """Each listed public equivalent exists in this module."""
    for _, public in PRIVATE_STATE.values():
        if public is not None:
            path, name = public.split("::")
            assert f"\ndef {name}(" in (Path(__file__).parents[1] / path).read_text(), public


# Public equivalents of the private-state tests.

GRADIENT_ACTIVATIONS = ["logistic", "tanh", "relu"]


@pytest.mark.parametrize("activation", GRADIENT_ACTIVATIONS)
@pytest.mark.parametrize("n_labels", [2, 3])
def test_gradient_matches_finite_differences(activation, n_labels):
    """test_gradient's check on our engine's full-batch gradient (what lbfgs minimises):
    central differences of loss + 0.5 * l2 * |W|^2 agree to 1e-7 (float64, eps 1e-5)."""
    from mnistbench.estimator._validation import ACTIVATIONS, penalty
    from mnistbench.estimator.engines import ENGINES
    from mnistbench.reference.optim import arrays_like

    rng = np.random.RandomState(42)
    X = rng.rand(5, 10)
    codes = np.mod(np.arange(5) + 1, n_labels).astype(np.int64)
    est = MLPClassifier(
        hidden_layer_sizes=10,
        activation=activation,
        solver="lbfgs",
        alpha=1e-5,
        max_iter=1,
        random_state=1,
    )
    with pytest.warns(Warning):
        est.fit(X, codes)
    engine = ENGINES["numba"].bind(ACTIVATIONS[activation])
    params, l2 = est.params_, est.alpha / X.shape[0]
    grads, _ = engine.gradients(params, X, codes, l2)

    def objective(arrays):
        candidate = arrays_like(params, arrays)
        _, loss = engine.gradients(candidate, X, codes, l2)
        return loss + penalty(candidate, l2)

    eps = 1e-5
    for index, array in enumerate(params):
        numeric = np.zeros_like(array)
        for position in np.ndindex(array.shape):
            shifted = [p.copy() for p in params]
            shifted[index][position] += eps
            up = objective(shifted)
            shifted[index][position] -= 2 * eps
            numeric[position] = (up - objective(shifted)) / (2 * eps)
        np.testing.assert_allclose(grads[index], numeric, atol=1e-7, rtol=0)


def test_adaptive_learning_rate_falls_below_1e_6():
    """test_adaptive_learning_rate's public side: with tol=0.5 no epoch after the first
    improves, so the rate is divided by 5 after every n_iter_no_change + 1 = 11 such epochs
    until it is at most 1e-6 (0.001 / 5**5 = 3.2e-7), then fit stops: 1 + 6 * 11 = 67 epochs,
    as scikit-learn's own (a constant rate stops at 1 + 11)."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    X, y = [[0.3, 0.2], [0.1, 0.6]], [1, 0]  # scaled: no early epoch drops the loss by 0.5
    settings = dict(tol=0.5, max_iter=3000, solver="sgd", random_state=0)
    ours = MLPClassifier(learning_rate="adaptive", **settings).fit(X, y)
    theirs = SklearnMLP(learning_rate="adaptive", **settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 67
    assert theirs._optimizer.learning_rate < 1e-6
    assert MLPClassifier(**settings).fit(X, y).n_iter_ == SklearnMLP(**settings).fit(X, y).n_iter_
    assert MLPClassifier(**settings).fit(X, y).n_iter_ == 12


@pytest.mark.parametrize("n_iter_no_change", [2, 5, 10])
def test_no_improvement_count_stops_fit(n_iter_no_change):
    """test_n_iter_no_change's public side: with a tolerance no epoch meets, fit stops after
    the first epoch and n_iter_no_change + 1 without improvement (scikit-learn's count at its
    stop), where scikit-learn stops; with n_iter_no_change=inf it runs all max_iter epochs."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 0, 0]
    settings = dict(tol=1e9, max_iter=300, solver="sgd", random_state=0)
    ours = MLPClassifier(n_iter_no_change=n_iter_no_change, **settings).fit(X, y)
    theirs = SklearnMLP(n_iter_no_change=n_iter_no_change, **settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == n_iter_no_change + 2
    assert theirs._no_improvement_count == n_iter_no_change + 1
    with pytest.warns(Warning):
        forever = MLPClassifier(n_iter_no_change=np.inf, **{**settings, "max_iter": 40})
        forever.fit(X, y)
    assert forever.n_iter_ == 40


def same_start(settings: dict, X, y):
    """(scikit-learn's, ours) after one fit each, ours given scikit-learn's fitted weights."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    theirs = SklearnMLP(**settings).fit(X, y)
    ours = MLPClassifier(**settings).fit(X, y)
    ours.coefs_ = [c.copy() for c in theirs.coefs_]
    ours.intercepts_ = [b.copy() for b in theirs.intercepts_]
    return theirs, ours


WARM = dict(
    hidden_layer_sizes=(5,),
    solver="sgd",
    momentum=0.0,
    shuffle=False,
    batch_size=30,
    max_iter=3,
    random_state=0,
    warm_start=True,
    alpha=1e-3,
)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "learning_rate", [dict(learning_rate="invscaling", learning_rate_init=0.5, power_t=0.25)]
)
def test_warm_start_matches_scikit_learn_from_the_same_weights(learning_rate):
    """test_learning_rate_warmstart's public side: a warm-start fit from scikit-learn's weights
    takes scikit-learn's steps (t_ carries over, so invscaling's rate keeps falling, from
    learning_rate_init for the fresh optimizer's first epoch): weights within 1e-12 (float64,
    plain sgd), the same t_, n_iter_ and loss curve length."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    theirs, ours = same_start({**WARM, **learning_rate}, X / 8, y)
    assert ours.t_ == theirs.t_
    for model in (theirs, ours):
        model.fit(X / 8, y)
    assert ours.t_ == theirs.t_ > 150 * ours.n_iter_
    assert ours.n_iter_ == theirs.n_iter_
    assert len(ours.loss_curve_) == len(theirs.loss_curve_)
    for got, want in zip(
        [*ours.coefs_, *ours.intercepts_], [*theirs.coefs_, *theirs.intercepts_], strict=True
    ):
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_keeps_the_early_stopping_state():
    """scikit-learn's bookkeeping carries over a warm start (its test on iris, 10 then 20
    epochs): one validation score per loss-curve entry across both fits, t_ summed, the best
    score the best of both, and the no-improvement count carried into the second fit."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    model = MLPClassifier(
        max_iter=10, random_state=0, warm_start=True, early_stopping=True, n_iter_no_change=3
    )
    model.fit(X, y)
    first = list(model.validation_scores_)
    model.set_params(max_iter=20).fit(X, y)
    scores = model.validation_scores_
    assert scores[: len(first)] == first
    assert len(scores) == len(model.loss_curve_) == len(first) + model.n_iter_
    assert model.t_ == 135 * len(scores)  # 150 rows less the 10% validation split
    assert model.best_validation_score_ == max(scores)
    # The first fit stopped after 4 epochs without improvement (count 4 > 3); the count carries
    # over, so the warm fit stops after its first epoch, as scikit-learn's does.
    assert len(first) == 9 and model.n_iter_ == 1
