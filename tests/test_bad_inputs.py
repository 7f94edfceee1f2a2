"""Bad inputs to every public entry point: the right exception, a message naming the problem.

Kind errors (object, complex, bool, string arrays; float labels) raise ``TypeError``; value and
shape errors raise ``ValueError``; damaged model files raise ``ModelFileError`` (a
``ValueError``); the CLI exits with status 2 and no traceback. Layouts that are merely unusual
(Fortran order, strided views) are accepted and give the C-order result. Failed writes leave
no file behind. Arrays are small (m = 50) so the whole battery runs in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import digit_like
from mnistbench import kernels
from mnistbench.cli import main
from mnistbench.estimator import MLPClassifier, NotFittedError
from mnistbench.model_files import ModelFileError, load_model, save_model
from mnistbench.reference.model import Params, init_params
from mnistbench.reference.training import TrainConfig

M = 50
X_OK, Y_OK = digit_like(M, seed=7)
PARAMS = init_params(8, seed=1)
ORDER = np.arange(M)
TINY = TrainConfig(hidden=8, epochs=2, batch_size=10, seed=1)


def _x_bad_cases():
    """(id, X, exception, match) for X arguments that must be refused."""
    X_nan = X_OK.astype(np.float64) / 255
    X_nan[3, 17] = np.nan
    X_inf = X_OK.astype(np.float64) / 255
    X_inf[0, 0] = -np.inf
    X_big = X_OK.astype(np.int64)
    X_big[2, 5] = 300
    return [
        ("783_columns", X_OK[:, :783], ValueError, "784 columns, got 783"),
        ("1d", X_OK[0], ValueError, "must be 2-D"),
        ("3d", X_OK.reshape(M, 28, 28), ValueError, "must be 2-D"),
        ("object", X_OK.astype(object), TypeError, "uint8 pixels or floats.*object"),
        ("complex", X_OK.astype(np.complex128), TypeError, "uint8 pixels or floats.*complex"),
        ("bool", X_OK > 0, TypeError, "uint8 pixels or floats.*bool"),
        ("strings", X_OK.astype(str), TypeError, "uint8 pixels or floats"),
        ("str_scalar", "pixels.csv", TypeError, "must be a 2-D numpy array"),
        ("nan", X_nan, ValueError, r"NaN or Inf .*row 3, column 17"),
        ("inf", X_inf, ValueError, "NaN or Inf"),
        ("empty", np.zeros((0, 784), np.uint8), ValueError, "empty"),
        ("int_out_of_range", X_big, ValueError, r"pixels in 0\.\.255.*300"),
    ]


def _y_bad_cases():
    """(id, Y, exception, match) for label arguments that must be refused."""
    y_10, y_neg, y_huge = Y_OK.copy(), Y_OK.copy(), Y_OK.copy()
    y_10[4] = 10
    y_neg[0] = -1
    y_huge[9] = 2**40
    return [
        ("label_10", y_10, ValueError, r"labels must be in 0\.\.9.*e\.g\. 10"),
        ("label_negative", y_neg, ValueError, r"labels must be in 0\.\.9.*-1"),
        ("label_huge", y_huge, ValueError, r"labels must be in 0\.\.9.*1099511627776"),
        ("float_labels", Y_OK.astype(np.float64), TypeError, "integer class labels.*float64"),
        ("string_labels", Y_OK.astype(str), TypeError, "integer class labels"),
        ("short", Y_OK[:-1], ValueError, "49 labels but X has 50 rows"),
        ("2d", Y_OK[:, None], ValueError, "must be 1-D"),
    ]


X_BAD = _x_bad_cases()
Y_BAD = _y_bad_cases()


def _acts():
    return kernels.forward_prop(PARAMS, X_OK)


# Every public kernel entry point as f(X, Y); those taking no labels ignore Y.
TAKES_X = {
    "forward_prop": lambda X, Y: kernels.forward_prop(PARAMS, X),
    "make_predictions": lambda X, Y: kernels.make_predictions(X, PARAMS),
    "predict_proba": lambda X, Y: kernels.predict_proba(X, PARAMS),
}
TAKES_XY = {
    "backward_prop": lambda X, Y: kernels.backward_prop(PARAMS, _acts(), X, Y),
    "fused_gradients": lambda X, Y: kernels.fused_gradients(PARAMS, X, Y),
    "fused_step": lambda X, Y: kernels.fused_step(PARAMS, X, Y, 0.1),
    "minibatch_epoch": lambda X, Y: kernels.minibatch_epoch(PARAMS, X, Y, ORDER, 10, 0.1),
    "gradient_descent": lambda X, Y: kernels.gradient_descent(X, Y, 0.1, 2, hidden=8),
    "train": lambda X, Y: kernels.train(X, Y, TINY),
    "MLPClassifier.fit": lambda X, Y: MLPClassifier(hidden=8, epochs=2).fit(X, Y),
    "MLPClassifier.partial_fit": lambda X, Y: MLPClassifier(hidden=8).partial_fit(X, Y),
    "MLPClassifier.fit(X_dev)": lambda X, Y: MLPClassifier(hidden=8, epochs=2).fit(
        X_OK, Y_OK, X, Y
    ),
}


@pytest.fixture(scope="module")
def fitted():
    return MLPClassifier(hidden=8, epochs=3, seed=2).fit(X_OK, Y_OK)


def _estimator_x_callers(model):
    return {
        "MLPClassifier.predict": lambda X, Y: model.predict(X),
        "MLPClassifier.predict_proba": lambda X, Y: model.predict_proba(X),
        "MLPClassifier.score": lambda X, Y: model.score(X, Y),
    }


@pytest.mark.parametrize(("case", "X", "exc", "match"), X_BAD, ids=[c[0] for c in X_BAD])
@pytest.mark.parametrize("function", [*TAKES_X, *TAKES_XY])
def test_bad_X_is_refused_with_a_message(function, case, X, exc, match):
    call = {**TAKES_X, **TAKES_XY}[function]
    Y = Y_OK if np.ndim(X) != 2 else Y_OK[: np.shape(X)[0]]
    if case == "783_columns" and function in ("gradient_descent", "train"):
        # The kernel drivers size the network from X, like the reference: not an error there.
        assert call(X, Y)[0].W1.shape == (8, 783)
        return
    if function == "MLPClassifier.fit(X_dev)":
        match = match.replace("X ", "X_dev ")
    with pytest.raises(exc, match=match):
        call(X, Y)


@pytest.mark.parametrize(("case", "X", "exc", "match"), X_BAD, ids=[c[0] for c in X_BAD])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_bad_X_is_refused_by_fitted_estimator(fitted, method, case, X, exc, match):
    call = _estimator_x_callers(fitted)[f"MLPClassifier.{method}"]
    with pytest.raises(exc, match=match):
        call(X, Y_OK if np.ndim(X) != 2 else Y_OK[: np.shape(X)[0]])


@pytest.mark.parametrize(("case", "Y", "exc", "match"), Y_BAD, ids=[c[0] for c in Y_BAD])
@pytest.mark.parametrize("function", [*TAKES_XY, "MLPClassifier.score"])
def test_bad_labels_are_refused_with_a_message(fitted, function, case, Y, exc, match):
    call = {**TAKES_XY, **_estimator_x_callers(fitted)}[function]
    if function == "MLPClassifier.fit(X_dev)":
        match = match.replace("X has", "X_dev has")
    with pytest.raises(exc, match=match):
        call(X_OK, Y)


@pytest.mark.parametrize("method", ["fit", "partial_fit", "predict", "score"])
def test_floats_outside_unit_interval_are_refused_by_estimator(fitted, method):
    X = X_OK.astype(np.float64)  # 0..255 floats: forgot to divide by 255
    model = fitted if method in ("predict", "score") else MLPClassifier(hidden=8, epochs=1)
    args = (X,) if method == "predict" else (X, Y_OK)
    with pytest.raises(ValueError, match=r"floats in 0\.\.255.*divide by 255"):
        getattr(model, method)(*args)


def _layouts():
    """Same values, unusual memory: Fortran order and strided views."""
    wide = np.zeros((M, 2 * 784), np.uint8)
    wide[:, ::2] = X_OK
    tall = np.zeros((2 * M, 784), np.uint8)
    tall[::2] = X_OK
    return {
        "fortran": np.asfortranarray(X_OK),
        "column_strided": wide[:, ::2],
        "row_strided": tall[::2],
        "fortran_float": np.asfortranarray(X_OK / 255.0),
    }


LAYOUTS = _layouts()


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("function", [*TAKES_X, *TAKES_XY])
def test_unusual_layouts_are_accepted_and_match_c_order(function, layout):
    X = LAYOUTS[layout]
    assert not X.flags.c_contiguous
    X_c = np.ascontiguousarray(X)
    Y_strided = np.repeat(Y_OK, 2)[::2]
    call = {**TAKES_X, **TAKES_XY}[function]
    got, want = call(X, Y_strided), call(X_c, Y_OK)
    got_leaves, want_leaves = _leaves(got), _leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves, strict=True):
        np.testing.assert_array_equal(g, w)


def _leaves(result) -> list:
    """Arrays and numbers inside a kernel result, an estimator's params, or a (params, history)."""
    if isinstance(result, MLPClassifier):
        return [*result.params_, *result.history_.loss]
    if isinstance(result, np.ndarray):
        return [result]
    if hasattr(result, "loss") and hasattr(result, "step"):  # History
        return [*result.loss, *result.train_accuracy]
    if isinstance(result, tuple):
        return [leaf for item in result for leaf in _leaves(item)]
    return [result]


def test_fortran_order_params_are_accepted():
    params_f = Params(*(np.asfortranarray(p) for p in PARAMS))
    np.testing.assert_array_equal(
        kernels.predict_proba(X_OK, params_f), kernels.predict_proba(X_OK, PARAMS)
    )


@pytest.mark.parametrize(
    ("params", "exc", "match"),
    [
        (PARAMS._replace(W1=PARAMS.W1.astype(np.int64)), TypeError, "float32 or float64"),
        (PARAMS._replace(b1=PARAMS.b1.astype(np.float32)), TypeError, "share one dtype"),
        (PARAMS._replace(W1=PARAMS.W1[:, :783]), ValueError, "X must have 783 columns, got 784"),
        (PARAMS._replace(b1=PARAMS.b1[:5]), ValueError, "inconsistent params shapes"),
        (PARAMS._replace(W2=np.full_like(PARAMS.W2, np.nan)), ValueError, "W2 contains NaN"),
        ((PARAMS.W1, PARAMS.b1), TypeError, "must be a Params"),
        (PARAMS._replace(b2=list(PARAMS.b2)), TypeError, "b2 must be a numpy array"),
    ],
    ids=["int", "mixed_dtypes", "783_inputs", "b1_shape", "nan", "two_arrays", "list"],
)
def test_bad_params_are_refused(params, exc, match):
    with pytest.raises(exc, match=match):
        kernels.forward_prop(params, X_OK)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER, 0, 0.1), ValueError,
         r"batch_size must be in 1\.\.50 \(the number of rows\), got 0"),
        (lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER, M + 1, 0.1), ValueError,
         r"batch_size must be in 1\.\.50 \(the number of rows\), got 51"),
        (lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER, 2.5, 0.1), TypeError,
         "batch_size must be an integer"),
        (lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER + 5, 10, 0.1), ValueError,
         "order must be a permutation"),
        (lambda: kernels.train(X_OK, Y_OK, TrainConfig(batch_size=0)), ValueError,
         "batch_size must be a positive integer"),
        (lambda: kernels.train(X_OK, Y_OK, TrainConfig(batch_size=M + 1)), ValueError,
         r"batch_size must be in 1\.\.50 \(the number of rows\), got 51"),
        (lambda: MLPClassifier(batch_size=0).fit(X_OK, Y_OK), ValueError,
         "batch_size must be a positive integer"),
        (lambda: MLPClassifier(batch_size=M + 1).fit(X_OK, Y_OK), ValueError,
         r"batch_size must be in 1\.\.50 \(the number of rows\), got 51"),
        (lambda: MLPClassifier(batch_size=M + 1).partial_fit(X_OK, Y_OK), ValueError,
         r"batch_size must be in 1\.\.50 \(the number of rows\), got 51"),
    ],
    ids=["epoch_0", "epoch_too_big", "epoch_float", "epoch_bad_order", "train_0",
         "train_too_big", "estimator_0", "estimator_too_big", "partial_fit_too_big"],
)  # fmt: skip
def test_bad_batch_size_is_refused(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


BAD_RATES = [
    (0.0, ValueError, "> 0"),
    (-0.1, ValueError, "> 0"),
    (float("nan"), ValueError, "finite"),
    (float("inf"), ValueError, "finite"),
    ("0.1", TypeError, "real number"),
]


@pytest.mark.parametrize(("rate", "exc", "match"), BAD_RATES, ids=lambda v: repr(v))
@pytest.mark.parametrize(
    "function", ["update_params", "fused_step", "minibatch_epoch", "gradient_descent", "train",
                 "MLPClassifier"],
)  # fmt: skip
def test_bad_learning_rate_is_refused(function, rate, exc, match):
    if function in ("gradient_descent", "train", "MLPClassifier"):
        exc = ValueError  # TrainConfig's validation reports every bad value as ValueError
        match = "learning_rate must be finite and > 0"
    call = {
        "update_params": lambda: kernels.update_params(PARAMS, PARAMS, rate),
        "fused_step": lambda: kernels.fused_step(PARAMS, X_OK, Y_OK, rate),
        "minibatch_epoch": lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER, 10, rate),
        "gradient_descent": lambda: kernels.gradient_descent(X_OK, Y_OK, rate, 2),
        "train": lambda: kernels.train(X_OK, Y_OK, TrainConfig(learning_rate=rate)),
        "MLPClassifier": lambda: MLPClassifier(learning_rate=rate).fit(X_OK, Y_OK),
    }[function]
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("hidden", [0, -3, 2.5, True, "10"], ids=repr)
@pytest.mark.parametrize("function", ["gradient_descent", "train", "MLPClassifier"])
def test_bad_hidden_size_is_refused(function, hidden):
    call = {
        "gradient_descent": lambda: kernels.gradient_descent(X_OK, Y_OK, 0.1, 2, hidden=hidden),
        "train": lambda: kernels.train(X_OK, Y_OK, TrainConfig(hidden=hidden)),
        "MLPClassifier": lambda: MLPClassifier(hidden=hidden).fit(X_OK, Y_OK),
    }[function]
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        call()


@pytest.mark.parametrize(
    ("settings", "exc", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of"),
        ({"lr_schedule": "linear"}, ValueError, "lr_schedule must be one of"),
        ({"l2": -1.0}, ValueError, "l2 must be finite and >= 0"),
        ({"dtype": "float16"}, ValueError, "dtype must be 'float32' or 'float64'"),
        ({"engine": "torch"}, ValueError, "engine must be one of"),
        ({"callback": 3}, TypeError, "callback must be callable"),
        ({"log_interval": 0}, ValueError, "log_interval must be >= 1"),
        ({"log_interval": "10"}, ValueError, "log_interval must be a positive integer"),
        ({"dtype": np.float32, "epochs": 2.0}, ValueError, "epochs must be a positive integer"),
    ],
    ids=lambda v: str(v),
)
def test_bad_estimator_settings_are_refused_at_fit(settings, exc, match):
    model = MLPClassifier(**settings)  # stored as given, like scikit-learn
    with pytest.raises(exc, match=match):
        model.fit(X_OK, Y_OK)


def test_unknown_estimator_parameter_is_refused():
    with pytest.raises(ValueError, match="invalid parameter 'hiden'"):
        MLPClassifier().set_params(hiden=5)


def test_only_one_of_X_dev_y_dev_is_refused():
    with pytest.raises(ValueError, match="both X_dev and y_dev"):
        MLPClassifier(hidden=8, epochs=1).fit(X_OK, Y_OK, X_OK)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "save", "log_loss"])
def test_unfitted_estimator_raises_not_fitted(method, tmp_path):
    args = {"predict": (X_OK,), "predict_proba": (X_OK,), "save": (tmp_path / "m.npz",)}
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(MLPClassifier(), method)(*args.get(method, (X_OK, Y_OK)))
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    assert list(tmp_path.iterdir()) == []


def test_partial_fit_refuses_changed_architecture(fitted):
    model = MLPClassifier(hidden=8, epochs=3, seed=2).fit(X_OK, Y_OK).set_params(hidden=9)
    with pytest.raises(ValueError, match="hidden=9, dtype=float64 do not match"):
        model.partial_fit(X_OK, Y_OK)


# ---- model files --------------------------------------------------------------------------


@pytest.fixture
def model_file(tmp_path, fitted) -> Path:
    return fitted.save(tmp_path / "model.npz")


def _rewrite(path: Path, **changes) -> Path:
    """Copy of a model file with some entries replaced (None removes one)."""
    with np.load(path, allow_pickle=False) as npz:
        entries = {k: npz[k] for k in npz.files}
    for key, value in changes.items():
        if value is None:
            entries.pop(key)
        else:
            entries[key] = value
    out = path.with_name("edited.npz")
    np.savez(out, **entries)
    return out


def _metadata_with(path: Path, **fields) -> np.ndarray:
    import json

    with np.load(path, allow_pickle=False) as npz:
        metadata = json.loads(str(npz["metadata"]))
    return np.array(json.dumps({**metadata, **fields}))


DAMAGES = {
    "text": lambda p: _write(p, b"ImageId,Label\n1,7\n"),
    "empty": lambda p: _write(p, b""),
    "random_bytes": lambda p: _write(p, np.random.default_rng(0).bytes(4096)),
    "truncated": lambda p: _write(p, p.read_bytes()[: len(p.read_bytes()) // 2]),
    "npy_not_npz": lambda p: _write(p, _npy_bytes(np.zeros(3))),
    "missing_W2": lambda p: _rewrite(p, W2=None),
    "missing_metadata": lambda p: _rewrite(p, metadata=None),
    "W1_783_inputs": lambda p: _rewrite(p, W1=np.zeros((8, 783))),
    "W2_wrong_hidden": lambda p: _rewrite(p, W2=np.zeros((10, 9))),
    "b2_11_classes": lambda p: _rewrite(p, b2=np.zeros(11)),
    "int_weights": lambda p: _rewrite(p, b1=np.zeros(8, np.int64)),
    "nan_weights": lambda p: _rewrite(p, W1=np.full((8, 784), np.nan)),
    "metadata_not_json": lambda p: _rewrite(p, metadata=np.array("{not json")),
    "metadata_number": lambda p: _rewrite(p, metadata=np.arange(3)),
    "foreign_format": lambda p: _rewrite(p, metadata=_metadata_with(p, format="keras")),
    "future_version": lambda p: _rewrite(p, metadata=_metadata_with(p, format_version=99)),
    "metadata_hidden_lies": lambda p: _rewrite(p, metadata=_metadata_with(p, hidden=16)),
    "bad_options": lambda p: _rewrite(
        p, metadata=_metadata_with(p, estimator={"optimizer": "rmsprop"})
    ),
}
DAMAGE_MESSAGES = {
    "text": r"not an mnistbench model \(\.npz archive\): a file starting with b'Image",
    "empty": r"not an mnistbench model \(\.npz archive\): an empty file",
    "random_bytes": r"not an mnistbench model \(\.npz archive\)",
    "truncated": "damaged, truncated or not an mnistbench model",
    "npy_not_npz": r"single \.npy array",
    "missing_W2": "missing W2",
    "missing_metadata": "missing metadata",
    "W1_783_inputs": r"expected a 784 -> hidden -> 10 network.*W1 \(8, 783\)",
    "W2_wrong_hidden": r"W2 \(10, 9\)",
    "b2_11_classes": r"b2 \(11,\)",
    "int_weights": "b1 must be float32 or float64",
    "nan_weights": "W1 contains NaN or Inf",
    "metadata_not_json": "metadata is not valid JSON",
    "metadata_number": "metadata must be a JSON string",
    "foreign_format": "format is not 'mnistbench-model'",
    "future_version": "format version 99, newer than",
    "metadata_hidden_lies": "metadata says hidden=16",
    "bad_options": "invalid training options: optimizer must be one of",
}


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


LOAD_CASES = [
    (loader, damage)
    for loader in ("load_model", "MLPClassifier.load")
    for damage in DAMAGES
    if not (loader == "load_model" and damage == "bad_options")  # options are the estimator's
]


@pytest.mark.parametrize(("loader", "damage"), LOAD_CASES)
def test_damaged_model_file_raises_model_file_error(model_file, damage, loader):
    path = DAMAGES[damage](model_file)
    load = load_model if loader == "load_model" else MLPClassifier.load
    with pytest.raises(ModelFileError, match=DAMAGE_MESSAGES[damage]):
        load(path)


def test_missing_model_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_model(tmp_path)


@pytest.mark.parametrize(
    ("params", "metadata", "exc", "match"),
    [
        (PARAMS._replace(W1=np.full_like(PARAMS.W1, np.inf)), {}, ValueError, "W1 contains NaN"),
        (PARAMS._replace(b2=np.zeros(11)), {}, ValueError, r"b2 \(11,\)"),
        (PARAMS._replace(W1=PARAMS.W1.astype(np.float32)), {}, TypeError, "share one dtype"),
        (PARAMS, {"f": object()}, TypeError, "JSON-serialisable"),
        (PARAMS, "not a dict", TypeError, "metadata must be a dict"),
    ],
    ids=["inf", "shape", "dtypes", "metadata_object", "metadata_str"],
)
def test_bad_save_refused_and_leaves_no_file(tmp_path, params, metadata, exc, match):
    with pytest.raises(exc, match=match):
        save_model(tmp_path / "model.npz", params, metadata)
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


# ---- crashes: out-of-range indices must never reach a jitted kernel ------------------------

NASTY = """
import numpy as np
from mnistbench import kernels
from mnistbench.estimator import MLPClassifier
from mnistbench.reference.model import init_params
from mnistbench.reference.training import TrainConfig

rng = np.random.default_rng(0)
X = rng.integers(0, 256, (64, 784)).astype(np.uint8)
params = init_params(8)
calls = {
    "train_label_10": lambda: kernels.train(X, np.full(64, 10), TrainConfig(hidden=8, epochs=1)),
    "train_huge": lambda: kernels.train(X, np.full(64, 2**62), TrainConfig(hidden=8, epochs=1)),
    "epoch_huge": lambda: kernels.minibatch_epoch(
        params, X, np.full(64, -2**62), np.arange(64), 8, 0.1),
    "epoch_order_out_of_range": lambda: kernels.minibatch_epoch(
        params, X, np.zeros(64, np.int64), np.arange(64) * 10**9, 8, 0.1),
    "gd_uint64": lambda: kernels.gradient_descent(X, np.full(64, 2**64 - 1, np.uint64), 0.1, 1),
    "fit_label_10": lambda: MLPClassifier(hidden=8, epochs=1).fit(X, np.full(64, 10)),
}
for name, call in calls.items():
    try:
        call()
    except (ValueError, TypeError) as e:
        print(name, type(e).__name__, e, flush=True)
    else:
        print(name, "ACCEPTED", flush=True)
kernels.train(X, np.full(64, 2**40), TrainConfig(hidden=8, epochs=1))
"""


def test_out_of_range_labels_and_indices_fail_cleanly_in_a_subprocess():
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NASTY)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])  # not a signal
    assert "ACCEPTED" not in result.stdout
    assert result.stdout.count("ValueError") == 6, result.stdout
    assert result.stderr.rstrip().splitlines()[-1].startswith("ValueError: Y labels must be in")


# ---- command line --------------------------------------------------------------------------


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
    model = MLPClassifier(hidden=8, epochs=3).fit(X_OK, Y_OK)
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
