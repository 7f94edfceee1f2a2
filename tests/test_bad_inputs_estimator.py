"""Bad input to the estimator and to model files: scikit-learn's own errors and messages.

The estimator validates once, at its boundary, with scikit-learn's ``validate_data`` and
``check_classification_targets``, so a user gets the ``ValueError`` any scikit-learn estimator
gives; parameter values it rejects raise ``InvalidParameterError`` at ``fit``. Damaged model
files raise ``ModelFileError`` (a ``ValueError``); failed writes leave no file behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from bad_cases import PARAMS, X_OK, Y_OK, M, metadata_with, npy_bytes, rewrite_npz
from mnistbench.estimator import MLPClassifier
from mnistbench.model_files import ModelFileError, load_model, save_model

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
SMALL = dict(hidden_layer_sizes=8, max_iter=2, random_state=0)


def _estimator_x_cases():
    """(id, X, match): X every estimator method refuses with scikit-learn's ValueError."""
    X_nan = X_OK / 255.0
    X_nan[3, 17] = np.nan
    X_inf = X_OK / 255.0
    X_inf[0, 0] = -np.inf
    return [
        ("1d", X_OK[0], "Expected 2D array, got 1D array instead"),
        ("3d", X_OK.reshape(M, 28, 28), "Found array with dim 3"),
        ("nan", X_nan, "Input X contains NaN"),
        ("inf", X_inf, "Input X contains infinity"),
        ("complex", X_OK.astype(np.complex128), "Complex data not supported"),
        ("words", np.full((M, 784), "cat"), "could not convert string to float"),
        ("str_scalar", "pixels.csv", "could not convert string to float: 'pixels.csv'"),
        ("empty", np.zeros((0, 784), np.uint8), r"Found array with 0 sample\(s\)"),
    ]


X_BAD = _estimator_x_cases()
Y_BAD = [
    ("short", Y_OK[:-1], r"inconsistent numbers of samples: \[50, 49\]"),
    ("continuous", np.linspace(0, 1, M), "Unknown label type: continuous"),
    ("nan", np.where(np.arange(M) == 3, np.nan, Y_OK), "Input y contains NaN"),
    ("two_columns", np.stack([Y_OK, Y_OK], axis=1), "y should be a 1d array"),
]


@pytest.fixture(scope="module")
def fitted():
    return MLPClassifier(**SMALL).fit(X_OK, Y_OK)


@pytest.mark.parametrize(("case", "X", "match"), X_BAD, ids=[c[0] for c in X_BAD])
@pytest.mark.parametrize("method", ["fit", "partial_fit", "fit(X_dev)"])
def test_bad_X_is_refused_at_fit_with_scikit_learns_message(method, case, X, match):
    y = Y_OK if np.ndim(X) < 1 or len(X) == M else Y_OK[: len(X)]
    call = {
        "fit": lambda: MLPClassifier(**SMALL).fit(X, y),
        "partial_fit": lambda: MLPClassifier(**SMALL).partial_fit(X, y, classes=range(10)),
        "fit(X_dev)": lambda: MLPClassifier(**SMALL).fit(X_OK, Y_OK, X_dev=X, y_dev=y),
    }[method]
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(("case", "X", "match"), X_BAD, ids=[c[0] for c in X_BAD])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "log_loss"])
def test_bad_X_is_refused_by_a_fitted_estimator(fitted, method, case, X, match):
    args = (X,) if method.startswith("predict") else (X, Y_OK)
    with pytest.raises(ValueError, match=match):
        getattr(fitted, method)(*args)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "partial_fit"])
def test_a_different_number_of_features_than_fit_saw_is_refused(fitted, method):
    args = (X_OK[:, :783],) if method.startswith("predict") else (X_OK[:, :783], Y_OK)
    with pytest.raises(ValueError, match="X has 783 features, but MLPClassifier is expecting 784"):
        getattr(fitted, method)(*args)


@pytest.mark.parametrize(("case", "y", "match"), Y_BAD, ids=[c[0] for c in Y_BAD])
def test_bad_labels_are_refused_at_fit_with_scikit_learns_message(case, y, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**SMALL).fit(X_OK, y)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"alpha": -1}, "'alpha' parameter of MLPClassifier must be a float in the range"),
        ({"solver": "newton"}, "'solver' parameter of MLPClassifier must be a str among"),
        ({"hidden_layer_sizes": (0,)}, "'hidden_layer_sizes' parameter .* Got \\(0,\\)"),
        ({"hidden_layer_sizes": ()}, "'hidden_layer_sizes' parameter .*non-empty"),
        ({"hidden_layer_sizes": (2.5,)}, "'hidden_layer_sizes' parameter"),
        ({"hidden_layer_sizes": 0}, "'hidden_layer_sizes' parameter"),
        ({"learning_rate_init": 0.0}, "'learning_rate_init' parameter"),
        ({"learning_rate": 0.01}, "'learning_rate' parameter .* among"),  # the 0.1 rename
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"max_iter": 0}, "'max_iter' parameter"),
        ({"momentum": 1.5}, "'momentum' parameter"),
        ({"validation_fraction": 1.0}, "'validation_fraction' parameter"),
        ({"n_iter_no_change": 0}, "'n_iter_no_change' parameter"),
        ({"activation": "softplus"}, "'activation' parameter"),
        ({"engine": "torch"}, "'engine' parameter .* among"),
        ({"dtype": "float16"}, "'dtype' parameter"),
        ({"lr_schedule": "linear"}, "'lr_schedule' parameter"),
        ({"init": "xavier"}, "'init' parameter"),
        ({"callback": 3}, "'callback' parameter"),
        ({"log_interval": 0}, "'log_interval' parameter"),
        ({"random_state": -1}, "'random_state' parameter"),
    ],
    ids=lambda v: str(v),
)
def test_parameter_values_scikit_learn_rejects_raise_invalid_parameter_error(settings, match):
    model = MLPClassifier(**{**SMALL, **settings})  # stored as given, like scikit-learn
    with pytest.raises(InvalidParameterError, match=match):
        model.fit(X_OK, Y_OK)


@pytest.mark.parametrize("hidden", [(16,), (16, 8)], ids=str)
@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_identity_activation_trains_on_both_engines(hidden, engine):
    """scikit-learn's "identity" runs on the kernels and the reference alike (1e-10)."""
    settings = {**SMALL, "hidden_layer_sizes": hidden, "activation": "identity"}
    model = MLPClassifier(**settings, engine=engine).fit(X_OK / 255.0, Y_OK)
    other = MLPClassifier(**settings, engine={"numba": "numpy", "numpy": "numba"}[engine])
    other.fit(X_OK / 255.0, Y_OK)
    np.testing.assert_allclose(model.predict_proba(X_OK), other.predict_proba(X_OK), atol=1e-10)


def test_unknown_parameter_is_refused_by_set_params():
    with pytest.raises(ValueError, match="Invalid parameter 'hiden' for estimator"):
        MLPClassifier().set_params(hiden=5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: MLPClassifier(**SMALL).fit(X_OK, Y_OK, X_dev=X_OK), "both X_dev and y_dev"),
        (
            lambda: MLPClassifier(**SMALL).fit(X_OK, Y_OK, X_dev=X_OK, y_dev=Y_OK + 10),
            r"labels not in classes_.*\['10'",
        ),
        (
            lambda: MLPClassifier(**SMALL).fit(X_OK, Y_OK, X_dev=X_OK, y_dev=Y_OK[:-1]),
            "y_dev has 49 labels but X_dev has 50 rows",
        ),
        (lambda: MLPClassifier(**SMALL).fit(X_OK, Y_OK, classes=[0, 1]), "labels not in classes_"),
        (
            lambda: MLPClassifier(**SMALL).partial_fit(X_OK, Y_OK),
            "classes must be passed on the first call to partial_fit",
        ),
        (
            lambda: MLPClassifier(**SMALL).partial_fit(X_OK, Y_OK, classes=[0, 1, 2]),
            "labels not in classes_",
        ),
        (
            lambda: MLPClassifier(**SMALL, early_stopping=True).partial_fit(X_OK, Y_OK),
            "partial_fit does not support early_stopping=True",
        ),
        (
            lambda: MLPClassifier(**SMALL, early_stopping=True, validation_fraction=0.01).fit(
                X_OK, Y_OK
            ),
            "least populated classes in y have only 1 member",
        ),
    ],
    ids=[
        "X_dev_alone",
        "y_dev_unseen",
        "y_dev_short",
        "fit_classes_short",
        "partial_fit_no_classes",
        "partial_fit_unseen",
        "partial_fit_early_stopping",
        "validation_split_impossible",
    ],
)
def test_inconsistent_training_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_continuing_with_another_architecture_or_classes_is_refused():
    model = MLPClassifier(**SMALL, warm_start=True).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(9,\).*do not match"):
        model.set_params(hidden_layer_sizes=9).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        model.set_params(hidden_layer_sizes=8).fit(X_OK, Y_OK % 5)
    with pytest.raises(ValueError, match=r"dtype=float32 do not match"):
        model.set_params(dtype="float32").partial_fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
        model.set_params(dtype="float64").partial_fit(X_OK, Y_OK, classes=[0, 1])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "save", "log_loss"])
def test_unfitted_estimator_raises_not_fitted(method, tmp_path):
    args = {"predict": (X_OK,), "predict_proba": (X_OK,), "save": (tmp_path / "m.npz",)}
    with pytest.raises(NotFittedError, match="not fitted yet"):
        attribute = getattr(MLPClassifier(), method)
        attribute(*args.get(method, (X_OK, Y_OK)))
    assert list(tmp_path.iterdir()) == []
    assert not hasattr(MLPClassifier(), "coefs_")  # as scikit-learn's: no weights yet


def test_batch_size_larger_than_the_data_is_clipped_with_a_warning():
    with pytest.warns(UserWarning, match="batch_size.*It is going to be clipped"):
        model = MLPClassifier(**{**SMALL, "batch_size": M + 1}).fit(X_OK, Y_OK)
    assert model.n_iter_ == 2
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        MLPClassifier(**SMALL).fit(X_OK, Y_OK)


# ---- model files --------------------------------------------------------------------------


@pytest.fixture
def model_file(tmp_path, fitted) -> Path:
    return fitted.save(tmp_path / "model.npz")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


DAMAGES = {
    "text": (
        lambda p: _write(p, b"ImageId,Label\n1,7\n"),
        r"not an mnistbench model \(\.npz archive\): a file starting with b'Image",
    ),
    "empty": (lambda p: _write(p, b""), r"not an mnistbench model \(\.npz archive\): an empty"),
    "random_bytes": (
        lambda p: _write(p, np.random.default_rng(0).bytes(4096)),
        r"not an mnistbench model \(\.npz archive\)",
    ),
    "truncated": (
        lambda p: _write(p, p.read_bytes()[: len(p.read_bytes()) // 2]),
        "damaged, truncated or not an mnistbench model",
    ),
    "npy_not_npz": (lambda p: _write(p, npy_bytes(np.zeros(3))), r"single \.npy array"),
    "missing_W2": (lambda p: rewrite_npz(p, W2=None), "missing W2"),
    "missing_metadata": (lambda p: rewrite_npz(p, metadata=None), "missing metadata"),
    "W1_783_inputs": (
        lambda p: rewrite_npz(p, W1=np.zeros((8, 783))),
        r"metadata says layers \[784, 8, 10\].*weights have layers \[783, 8, 10\]",
    ),
    "W2_wrong_hidden": (lambda p: rewrite_npz(p, W2=np.zeros((10, 9))), r"W2 \(10, 9\)"),
    "b2_11_classes": (lambda p: rewrite_npz(p, b2=np.zeros(11)), r"b2 \(11,\)"),
    "int_weights": (
        lambda p: rewrite_npz(p, b1=np.zeros(8, np.int64)),
        "b1 must be float32 or float64",
    ),
    "nan_weights": (
        lambda p: rewrite_npz(p, W1=np.full((8, 784), np.nan)),
        "W1 contains NaN or Inf",
    ),
    "three_classes": (
        lambda p: rewrite_npz(p, classes=np.arange(3)),
        "classes must be 10 integer or string labels",
    ),
    "float_classes": (
        lambda p: rewrite_npz(p, classes=np.linspace(0, 1, 10)),
        "classes must be 10 integer or string labels.*float64",
    ),
    "metadata_not_json": (
        lambda p: rewrite_npz(p, metadata=np.array("{not json")),
        "metadata is not valid JSON",
    ),
    "metadata_number": (
        lambda p: rewrite_npz(p, metadata=np.arange(3)),
        "metadata must be a JSON string",
    ),
    "foreign_format": (
        lambda p: rewrite_npz(p, metadata=metadata_with(p, format="keras")),
        "format is not 'mnistbench-model'",
    ),
    "future_version": (
        lambda p: rewrite_npz(p, metadata=metadata_with(p, format_version=99)),
        "format version 99, newer than",
    ),
    "metadata_layers_lie": (
        lambda p: rewrite_npz(p, metadata=metadata_with(p, layers=[784, 16, 10])),
        r"metadata says layers \[784, 16, 10\]",
    ),
    "bad_options": (
        lambda p: rewrite_npz(p, metadata=metadata_with(p, estimator={"solver": "newton"})),
        "invalid training options: The 'solver' parameter",
    ),
    "bad_history": (
        lambda p: rewrite_npz(p, metadata=metadata_with(p, history={"step": [1]})),
        "damaged history",
    ),
}
ESTIMATOR_ONLY = ("bad_options", "bad_history")  # load_model reads no estimator options
LOAD_CASES = [
    (loader, damage)
    for loader in ("load_model", "MLPClassifier.load")
    for damage in DAMAGES
    if not (loader == "load_model" and damage in ESTIMATOR_ONLY)
]


@pytest.mark.parametrize(("loader", "damage"), LOAD_CASES)
def test_damaged_model_file_raises_model_file_error(model_file, damage, loader):
    damage_fn, message = DAMAGES[damage]
    load = load_model if loader == "load_model" else MLPClassifier.load
    with pytest.raises(ModelFileError, match=message):
        load(damage_fn(model_file))


def test_missing_model_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_model(tmp_path)


@pytest.mark.parametrize(
    ("params", "metadata", "classes", "exc", "match"),
    [
        (
            PARAMS._replace(W1=np.full_like(PARAMS.W1, np.inf)),
            {},
            None,
            ValueError,
            "W1 contains NaN",
        ),
        (PARAMS._replace(b2=np.zeros(11)), {}, None, ValueError, r"b2 \(11,\)"),
        (PARAMS._replace(W1=PARAMS.W1.astype(np.float32)), {}, None, TypeError, "share one dtype"),
        (PARAMS, {"f": object()}, None, TypeError, "JSON-serialisable"),
        (PARAMS, "not a dict", None, TypeError, "metadata must be a dict"),
        (PARAMS, {}, [0, 1], TypeError, "classes must be 10 integer or string labels"),
        (PARAMS, {}, np.array([None] * 10), TypeError, "classes must be 10 integer or string"),
    ],
    ids=[
        "inf",
        "shape",
        "dtypes",
        "metadata_object",
        "metadata_str",
        "classes_short",
        "classes_object",
    ],
)
def test_bad_save_refused_and_leaves_no_file(tmp_path, params, metadata, classes, exc, match):
    with pytest.raises(exc, match=f"refusing to save the model: {match}|{match}"):
        save_model(tmp_path / "model.npz", params, metadata, classes=classes)
    assert list(tmp_path.iterdir()) == []


def test_save_into_missing_directory_or_onto_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_model(tmp_path / "no" / "model.npz", PARAMS)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save_model(tmp_path, PARAMS)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_save_keeps_the_old_model_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = save_model(tmp_path / "model.npz", PARAMS, {"run": 1})
    before = path.read_bytes()

    def savez_then_fail(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(KeyboardInterrupt):
        save_model(path, PARAMS, {"run": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
