"""Shared fixtures; the tolerance table every numeric comparison uses is the registry's."""

from __future__ import annotations

import numpy as np
import pytest

from mnistbench.reference.model import Params, init_params
from mnistbench.variants import TOL, TRAJECTORY_TOL

__all__ = [
    "TOL",
    "TRAJECTORY_TOL",
    "assert_close",
    "assert_params_close",
    "digit_like",
    "params_for",
]

DTYPES = [np.float64, np.float32]


def assert_close(actual, expected, dtype, table=TOL, err_msg: str = "") -> None:
    atol, rtol = table[np.dtype(dtype)]
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol, err_msg=err_msg)


def assert_params_close(actual: Params, expected: Params, dtype, table=TOL) -> None:
    for name, a, e in zip(Params._fields, actual, expected, strict=True):
        assert a.dtype == np.dtype(dtype), f"{name} has dtype {a.dtype}, expected {dtype}"
        assert_close(a, e, dtype, table, err_msg=name)


def digit_like(m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(m, 784) uint8 pixels that look like MNIST: mostly zeros, bright strokes; int64 labels."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (m, 784)).astype(np.uint8)
    X[rng.random((m, 784)) < 0.8] = 0
    return X, rng.integers(0, 10, m).astype(np.int64)


@pytest.fixture(scope="session")
def data_1000():
    return digit_like(1000, seed=1)


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return np.dtype(request.param)


def params_for(dtype, hidden: int = 10, seed: int = 0) -> Params:
    return init_params(hidden, seed=seed, dtype=dtype)
