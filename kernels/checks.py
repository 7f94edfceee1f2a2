"""Validation of everything a jitted kernel reads: the one authority for array and value checks.

An out-of-range label inside an njit kernel is an out-of-bounds write, not an exception, so the
public wrappers in :mod:`mnistbench.kernels.model` and :mod:`mnistbench.kernels.training`, the
model files and the variant registry all run these checks before any kernel. Rules:

* params: four float32 or float64 arrays of one dtype with consistent shapes, all finite;
* X: 2-D with ``params.n_in`` columns and at least one row; either raw ``uint8`` pixels (scaled
  by 1/255 inside the kernels) or floats (converted to the params' dtype); other integer dtypes
  are accepted when every value is in 0..255; bool, complex, object and string arrays are not;
  NaN/Inf rejected; non-contiguous or Fortran-ordered X is copied to C order;
* labels: 1-D integers in ``0..n_out-1``, one per row of X.

``TypeError`` is raised for a wrong kind of thing, ``ValueError`` for a wrong value or shape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mnistbench.reference.model import Params

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(x: Any) -> str:
    return f"{type(x).__name__} with dtype {x.dtype}" if hasattr(x, "dtype") else type(x).__name__


def check_params(params: Any) -> Params:
    """Validated params: C-contiguous float arrays of one dtype, shapes consistent, finite."""
    if not isinstance(params, tuple) or len(params) != 4:
        raise TypeError(f"params must be a Params(W1, b1, W2, b2), got {type(params).__name__}")
    arrays = []
    for name, value in zip(Params._fields, params, strict=True):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"params.{name} must be a numpy array, got {type(value).__name__}")
        if value.dtype not in FLOAT_DTYPES:
            raise TypeError(f"params.{name} must be float32 or float64, got {value.dtype}")
        arrays.append(np.ascontiguousarray(value))
    W1, b1, W2, b2 = arrays
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1:
        raise TypeError(f"params must share one dtype, got {sorted(str(d) for d in dtypes)}")
    if W1.ndim != 2 or W2.ndim != 2 or b1.ndim != 1 or b2.ndim != 1:
        raise ValueError(
            "params must be W1 (hidden, n_in), b1 (hidden,), W2 (n_out, hidden), b2 (n_out,); "
            f"got shapes {[a.shape for a in arrays]}"
        )
    hidden, n_in = W1.shape
    n_out = W2.shape[0]
    if hidden < 1 or n_in < 1 or n_out < 2:
        raise ValueError(
            f"params need hidden >= 1, n_in >= 1, n_out >= 2, got {W1.shape}, {W2.shape}"
        )
    if b1.shape != (hidden,) or W2.shape != (n_out, hidden) or b2.shape != (n_out,):
        raise ValueError(
            f"inconsistent params shapes: W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, "
            f"b2 {b2.shape} (expected b1 ({hidden},), W2 ({n_out}, {hidden}), b2 ({n_out},))"
        )
    for name, a in zip(Params._fields, arrays, strict=True):
        if not np.isfinite(a).all():
            raise ValueError(f"params.{name} contains NaN or Inf")
    return Params(*arrays)


def check_X(X: Any, n_in: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """X as a C-contiguous (m, n_in) array the kernels accept: uint8, or ``dtype`` floats."""
    if not isinstance(X, np.ndarray):
        if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
            raise TypeError(f"{name} must be a 2-D numpy array, got {type(X).__name__}")
        X = np.asarray(X)
    kind = X.dtype.kind
    if kind not in "uif":
        raise TypeError(
            f"{name} must hold uint8 pixels or floats, got {_describe(X)} "
            "(bool, complex, object and string arrays are not accepted)"
        )
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (m, {n_in}), got shape {X.shape}")
    if X.shape[1] != n_in:
        raise ValueError(f"{name} must have {n_in} columns, got {X.shape[1]}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    if kind in "ui" and X.dtype != np.uint8:
        low, high = X.min(), X.max()
        if low < 0 or high > 255:
            raise ValueError(
                f"integer {name} must hold pixels in 0..255, got values in {low}..{high}"
            )
        X = X.astype(np.uint8)
    if kind == "f":
        X = np.ascontiguousarray(X, dtype=dtype)
        # One cheap reduction instead of a mask the size of X: NaN/Inf poison the sum (a finite
        # sum that overflows only sends us to the exact check below, which then finds nothing).
        if not math.isfinite(float(X.sum())):
            bad = np.argwhere(~np.isfinite(X))
            if len(bad):
                row, col = bad[0]
                raise ValueError(
                    f"{name} contains NaN or Inf ({len(bad)} values; first at row {row}, "
                    f"column {col}: {X[row, col]})"
                )
    return np.ascontiguousarray(X)


def check_labels(Y: Any, m: int, n_out: int, name: str = "Y", x_name: str = "X") -> np.ndarray:
    """Labels as a contiguous int64 (m,) array with every value in 0..n_out-1."""
    Y = np.asarray(Y)
    if Y.dtype.kind not in "ui":
        raise TypeError(f"{name} must hold integer class labels, got {_describe(Y)}")
    if Y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (m,), got shape {Y.shape}")
    if Y.shape[0] != m:
        raise ValueError(f"{name} has {Y.shape[0]} labels but {x_name} has {m} rows")
    if m and (Y.min() < 0 or Y.max() >= n_out):
        bad = Y[(Y < 0) | (Y >= n_out)]
        raise ValueError(
            f"{name} labels must be in 0..{n_out - 1}, got {bad.size} out of range (e.g. {bad[0]})"
        )
    return np.ascontiguousarray(Y, dtype=np.int64)


def check_positive_float(value: Any, name: str) -> float:
    """``value`` as a float, checked to be finite and > 0 (``name`` is for the message)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def check_l2(l2: Any) -> float:
    """``l2`` as a float, checked to be a finite real number >= 0."""
    if isinstance(l2, bool) or not isinstance(l2, (int, float, np.integer, np.floating)):
        raise TypeError(f"l2 must be a real number, got {type(l2).__name__}")
    if not (math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"l2 must be finite and >= 0, got {l2!r}")
    return float(l2)


def check_state(state: Any, params: Params) -> None:
    """Optimizer buffers must match the params exactly: the kernels index them like the params."""
    from mnistbench.reference.optim import OptimizerState

    if not isinstance(state, OptimizerState):
        raise TypeError(f"state must be an OptimizerState, got {type(state).__name__}")
    for which in ("first", "second"):
        buffers = getattr(state, which)
        for name, b, p in zip(Params._fields, buffers, params, strict=True):
            if not isinstance(b, np.ndarray) or b.shape != p.shape or b.dtype != p.dtype:
                raise ValueError(
                    f"state.{which}.{name} must be a {p.dtype} array of shape {p.shape}, got "
                    f"{_describe(b)} of shape {getattr(b, 'shape', None)}"
                )
            if not b.flags.c_contiguous or not b.flags.writeable:
                raise ValueError(f"state.{which}.{name} must be C-contiguous and writeable")
    if isinstance(state.t, bool) or not isinstance(state.t, (int, np.integer)) or state.t < 0:
        raise ValueError(f"state.t must be an integer >= 0, got {state.t!r}")


def check_order(order: Any, m: int, batch_size: Any) -> tuple[np.ndarray, int]:
    """Sample indices (each in 0..m-1; read by the kernels unchecked) and a batch size 1..m."""
    order = np.asarray(order)
    if order.dtype.kind not in "ui" or order.ndim != 1 or order.size == 0:
        raise ValueError(f"order must be a non-empty 1-D array of row indices, got {order!r:.80}")
    if order.min() < 0 or order.max() >= m:
        raise ValueError(f"order indices must be in 0..{m - 1}")
    return np.ascontiguousarray(order, dtype=np.int64), check_batch_size(batch_size, m)


def check_batch_size(batch_size: Any, m: int) -> int:
    """A batch size the epoch kernels can slice: an integer in 1..m."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an integer, got {type(batch_size).__name__}")
    if not 1 <= batch_size <= m:
        raise ValueError(f"batch_size must be in 1..{m} (the number of rows), got {batch_size}")
    return int(batch_size)


def scale_for(X: np.ndarray, dtype: np.dtype) -> np.floating:
    """The factor folded into the first layer: 1/255 for raw pixels, 1 for floats."""
    return dtype.type(1 / 255) if X.dtype == np.uint8 else dtype.type(1)
