"""Shared bad-input builders for tests/test_bad_inputs_*.py (kernels, estimator, CLI).

Arrays are small (m = 50 digit-like rows, 784 uint8 pixels) so each battery runs in seconds.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from conftest import digit_like
from mnistbench.reference.model import init_params
from mnistbench.reference.training import TrainConfig

M = 50
X_OK, Y_OK = digit_like(M, seed=7)
PARAMS = init_params(8, seed=1)
ORDER = np.arange(M)
TINY = TrainConfig(hidden=8, epochs=2, batch_size=10, seed=1)


def x_bad_cases():
    """(id, X, exception, match) for X arguments the kernels must refuse."""
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


def y_bad_cases():
    """(id, Y, exception, match) for label arguments the kernels must refuse."""
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


def layouts():
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


def leaves(result) -> list:
    """Arrays and numbers inside a kernel result, an estimator's params, or a (params, history)."""
    if hasattr(result, "params_"):  # a fitted estimator
        return [*result.params_, *result.history_.loss]
    if isinstance(result, np.ndarray):
        return [result]
    if hasattr(result, "loss") and hasattr(result, "step"):  # History
        return [*result.loss, *result.train_accuracy]
    if isinstance(result, tuple):
        return [leaf for item in result for leaf in leaves(item)]
    return [result]


def rewrite_npz(path: Path, **changes) -> Path:
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


def metadata_with(path: Path, **fields) -> np.ndarray:
    """The model file's metadata JSON with some fields replaced (a 0-d unicode array)."""
    import json

    with np.load(path, allow_pickle=False) as npz:
        metadata = json.loads(str(npz["metadata"]))
    return np.array(json.dumps({**metadata, **fields}))


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
