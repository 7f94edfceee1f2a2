"""What makes MLPClassifier a drop-in beyond check_estimator: dtypes, assignable
weights, the user's labels in messages, identity, sparse X (scikit-learn's test_mlp.py runs in
tests/test_sklearn_suite.py; these pin each behaviour down with numbers).

Data is scikit-learn's 8x8 digits scaled to [0, 1], so each fit takes a fraction of a second.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLP

from mnistbench import MLPClassifier
from mnistbench.estimator import _sparse

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    """The first 300 of load_digits / 16 (10 classes)."""
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _fit(X, y, **settings) -> MLPClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(**{"max_iter": 5, "random_state": 0, **settings}).fit(X, y)


# dtype


@pytest.mark.parametrize(
    ("X_dtype", "dtype", "expected"),
    [
        (np.float32, None, np.float32),
        (np.float64, None, np.float64),
        (np.uint8, None, np.float64),
        (np.int64, None, np.float64),
        (np.float32, "float64", np.float64),
        (np.float64, "float32", np.float32),
    ],
)
def test_weights_follow_X_unless_dtype_is_set(digits, X_dtype, dtype, expected):
    """dtype=None (the default) is scikit-learn's rule: float32 X trains and predicts in
    float32, anything else in float64; a dtype set wins."""
    X, y = digits
    X = (X * 255).astype(X_dtype) if X_dtype in (np.uint8, np.int64) else X.astype(X_dtype)
    model = _fit(X, y, hidden_layer_sizes=(8,), dtype=dtype)
    assert (
        {c.dtype for c in model.coefs_}
        == {c.dtype for c in model.intercepts_}
        == {np.dtype(expected)}
    )
    assert model.predict_proba(X).dtype == expected
    assert model.get_params()["dtype"] == dtype


def test_float32_and_float64_fits_agree(digits):
    """Same seed, same steps: probabilities within 1e-4 after 5 Adam epochs."""
    X, y = digits
    wide = _fit(X, y, hidden_layer_sizes=(16,))
    narrow = _fit(X.astype(np.float32), y, hidden_layer_sizes=(16,))
    np.testing.assert_allclose(narrow.predict_proba(X), wide.predict_proba(X), atol=1e-4)


def test_continued_training_keeps_the_fitted_dtype(digits):
    """partial_fit and warm start continue in the fitted weights' dtype, whatever X's."""
    X, y = digits
    model = _fit(X.astype(np.float32), y, hidden_layer_sizes=(8,), warm_start=True)
    model.partial_fit(X, y)
    assert model.coefs_[0].dtype == np.float32
    model.fit(X, y)
    assert model.coefs_[0].dtype == np.float32 and model.t_ == 300 * (5 + 1 + 5)


# the user's labels in messages


@pytest.mark.parametrize(
    ("labels", "shown"), [([0, 0, 0, 1], r"\[1\]"), (["cat"] * 3 + ["dog"], r"\['dog'\]")]
)
def test_stratification_error_names_the_users_labels(labels, shown):
    X = [[1, 2], [2, 3], [3, 4], [4, 5]]
    with pytest.raises(ValueError, match=rf"Classes with too few members are: {shown}"):
        MLPClassifier(early_stopping=True).fit(X, labels)


# assignable coefs_ / intercepts_


def test_partial_fit_from_assigned_weights_takes_scikit_learns_steps(digits):
    """scikit-learn users set starting weights by assigning coefs_/intercepts_; from the same
    weights, five partial_fit epochs (plain sgd, no shuffling, 10 classes) end within 1e-12."""
    X, y = digits
    settings = dict(
        hidden_layer_sizes=(12,),
        solver="sgd",
        momentum=0.0,
        shuffle=False,
        learning_rate_init=0.1,
        batch_size=50,
        random_state=0,
    )
    theirs = SklearnMLP(**settings).partial_fit(X, y, classes=np.arange(10))
    ours = MLPClassifier(**settings).partial_fit(X, y, classes=np.arange(10))
    ours.coefs_ = [c.copy() for c in theirs.coefs_]
    ours.intercepts_ = [b.copy() for b in theirs.intercepts_]
    for _ in range(5):
        theirs.partial_fit(X, y)
        ours.partial_fit(X, y)
    for got, want in zip(
        [*ours.coefs_, *ours.intercepts_], [*theirs.coefs_, *theirs.intercepts_], strict=True
    ):
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-12)


def test_assigned_weights_on_an_unfitted_estimator_start_partial_fit(digits):
    """As in scikit-learn's test_fit: weights assigned before any fit are where training
    starts (one step of lr 0.5 on one row moves each array by 0.5 x its gradient)."""
    X, y = digits
    rng = np.random.default_rng(1)
    coefs = [rng.normal(0, 0.1, (64, 6)), rng.normal(0, 0.1, (6, 10))]
    intercepts = [np.zeros(6), np.zeros(10)]
    settings = dict(
        hidden_layer_sizes=(6,),
        solver="sgd",
        momentum=0.0,
        learning_rate_init=0.5,
        alpha=0.0,
        activation="logistic",
    )
    ours = MLPClassifier(**settings)
    ours.coefs_, ours.intercepts_ = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    ours.partial_fit(X[:1], y[:1], classes=np.arange(10))
    theirs = SklearnMLP(**settings)
    theirs.partial_fit(X[:1], y[:1], classes=np.arange(10))  # scikit-learn's own start ...
    theirs.coefs_, theirs.intercepts_ = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    theirs.partial_fit(X[:1], y[:1])  # ... then one step from the assigned weights
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], atol=1e-12, rtol=0)
    np.testing.assert_allclose(ours.intercepts_[1], theirs.intercepts_[1], atol=1e-12, rtol=0)


def test_in_place_edits_of_coefs_reach_predictions(digits):
    X, y = digits
    model = _fit(X, y, hidden_layer_sizes=(8,))
    model.coefs_[1][:] = 0.0
    model.intercepts_[1][:] = 0.0
    np.testing.assert_allclose(model.predict_proba(X), np.full((len(X), 10), 0.1), rtol=1e-12)
    restored = pickle.loads(pickle.dumps(model))  # views re-made on unpickling
    restored.intercepts_[1][3] = 5.0
    assert (restored.predict(X) == 3).all() and model.intercepts_[1][3] == 0.0


BAD_WEIGHTS = [
    ("one_layer", lambda c, b: ([c[0]], [b[0]]), "one array per layer"),
    ("lengths", lambda c, b: (c, b[:1]), "one array per layer"),
    ("not_a_list", lambda c, b: (np.zeros(3), b), "must both be lists"),
    ("features", lambda c, b: ([c[0][:-1], c[1]], b), "coefs_\\[0\\] has 63 rows but X has 64"),
    ("classes", lambda c, b: ([c[0], c[1][:, :9]], [b[0], b[1][:9]]), "there are 10 classes"),
    ("chain", lambda c, b: ([c[0][:, :7], c[1]], [b[0][:7], b[1]]), "layer 0 has 7 units"),
    ("intercept", lambda c, b: (c, [b[0][:-1], b[1]]), "intercepts_\\[0\\] of shape"),
    ("nan", lambda c, b: ([c[0] * np.nan, c[1]], b), "finite real numbers"),
    ("words", lambda c, b: ([np.full((64, 8), "w"), c[1]], b), "finite real numbers"),
]


@pytest.mark.parametrize(("case", "change", "match"), BAD_WEIGHTS, ids=[c[0] for c in BAD_WEIGHTS])
@pytest.mark.parametrize("method", ["predict", "partial_fit", "warm_fit"])
def test_bad_assigned_weights_are_refused_before_training(digits, method, case, change, match):
    """Shapes, counts and values are checked where the weights are next used; nothing
    trains, and the estimator keeps its weights."""
    X, y = digits
    model = _fit(X, y, hidden_layer_sizes=(8,), warm_start=True)
    before = [p.copy() for p in model.params_]
    model.coefs_, model.intercepts_ = change(list(model.coefs_), list(model.intercepts_))
    call = {
        "predict": lambda: model.predict(X),
        "partial_fit": lambda: model.partial_fit(X, y),
        "warm_fit": lambda: model.fit(X, y),
    }[method]
    with pytest.raises(ValueError, match=match):
        call()
    for got, want in zip(model.params_, before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert model.n_iter_ == 5


def test_assigned_weights_are_saved(digits, tmp_path):
    X, y = digits
    model = _fit(X, y, hidden_layer_sizes=(8,))
    model.intercepts_ = [b + 1.0 for b in model.intercepts_]
    loaded = MLPClassifier.load(model.save(tmp_path / "m.npz"))
    for got, want in zip(loaded.intercepts_, model.intercepts_, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# activations: identity, and logistic = sigmoid


def test_identity_activation_fits_a_linear_model(digits):
    """A linear network is a softmax regression: on binary digits (0 vs 1, lbfgs) it separates
    the training set, as scikit-learn's test_lbfgs_classification asks (> 0.95)."""
    X, y = digits
    binary = y < 2
    model = _fit(
        X[binary],
        y[binary],
        hidden_layer_sizes=(50,),
        activation="identity",
        solver="lbfgs",
        max_iter=150,
    )
    assert model.score(X[binary], y[binary]) > 0.95
    # The hidden layer adds nothing a product of the two matrices does not: logits = X W + b.
    W = model.coefs_[0] @ model.coefs_[1]
    b = model.intercepts_[0] @ model.coefs_[1] + model.intercepts_[1]
    logits = X[binary] @ W + b
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X[binary]), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("activation", ["identity", "logistic", "sigmoid"])
def test_activation_round_trips_through_model_files(digits, tmp_path, activation):
    X, y = digits
    model = _fit(X, y, hidden_layer_sizes=(8, 6), activation=activation)
    loaded = MLPClassifier.load(model.save(tmp_path / f"{activation}.npz"))
    assert loaded.activation == activation
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_sigmoid_is_an_alias_of_logistic(digits):
    X, y = digits
    sigmoid = _fit(X, y, hidden_layer_sizes=(8,), activation="sigmoid")
    logistic = _fit(X, y, hidden_layer_sizes=(8,), activation="logistic")
    for got, want in zip(sigmoid.params_, logistic.params_, strict=True):
        np.testing.assert_array_equal(got, want)


# sparse X


SPARSE_SETTINGS = [
    dict(solver="adam", batch_size=32),
    dict(solver="sgd", batch_size=7, hidden_layer_sizes=(8, 6), activation="tanh"),
    dict(solver="adam", early_stopping=True, batch_size=50),
    dict(solver="adam", batch_size=64, dropout=0.2),
]


@pytest.mark.parametrize("settings", SPARSE_SETTINGS, ids=["adam", "sgd_deep", "early", "dropout"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_X_trains_as_the_dense_matrix(digits, monkeypatch, fmt, settings):
    """CSR/CSC X takes the dense matrix's steps (same batches, order and arithmetic: weights
    within 1e-12) while never more than a chunk of rows is dense (CHUNK_ROWS set to 64 here,
    so 300 rows take five chunks)."""
    X, y = digits
    seen = []
    dense_rows = _sparse._dense

    def recording(X_sparse, rows, out):
        seen.append(out.shape[0])
        return dense_rows(X_sparse, rows, out)

    monkeypatch.setattr(_sparse, "CHUNK_ROWS", 64)
    monkeypatch.setattr(_sparse, "_dense", recording)
    settings = {"hidden_layer_sizes": (16,), **settings}
    dense = _fit(X, y, **settings)
    sparse = _fit(scipy.sparse.csr_matrix(X).asformat(fmt), y, **settings)
    assert seen and max(seen) <= 64
    for got, want in zip(sparse.params_, dense.params_, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
    assert sparse.loss_curve_ == pytest.approx(dense.loss_curve_, rel=1e-12)
    np.testing.assert_allclose(
        sparse.predict_proba(scipy.sparse.csr_array(X)), dense.predict_proba(X), atol=1e-12
    )


def test_sparse_X_with_lbfgs_and_a_sparse_dev_set(digits, monkeypatch):
    """The full-batch gradient summed over chunks: lbfgs ends where the dense run does (1e-8
    after 20 iterations); X_dev may be sparse too."""
    X, y = digits
    monkeypatch.setattr(_sparse, "CHUNK_ROWS", 64)
    settings = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=20)
    dense = _fit(X, y, **settings)
    sparse = _fit(scipy.sparse.csr_matrix(X), y, **settings)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X), atol=1e-8)
    logged = MLPClassifier(max_iter=3, random_state=0).fit(
        scipy.sparse.csr_matrix(X[:200]),
        y[:200],
        X_dev=scipy.sparse.csc_matrix(X[200:]),
        y_dev=y[200:],
    )
    assert logged.history_.dev_accuracy[-1] == logged.score(X[200:], y[200:])


def test_sparse_X_is_refused_with_augmentation():
    X = scipy.sparse.random(20, 784, density=0.1, format="csr", random_state=0)
    with pytest.raises(ValueError, match="X is sparse"):
        MLPClassifier(augment="noise", max_iter=1).fit(X, np.arange(20) % 2)


def test_sparse_uint8_is_read_as_pixels_like_dense_uint8(digits):
    """uint8 X means pixels / 255 whether dense or sparse: the same probabilities (1e-12)."""
    X, y = digits
    pixels = (X * 255).astype(np.uint8)
    model = _fit(pixels, y, hidden_layer_sizes=(16,))
    np.testing.assert_allclose(
        model.predict_proba(scipy.sparse.csr_matrix(pixels)),
        model.predict_proba(pixels),
        atol=1e-12,
    )
    assert abs(model.score(pixels, y) - model.score(pixels / 255.0, y)) < 0.01
