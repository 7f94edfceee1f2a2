"""Shared fixtures and assertions; the tolerances are :mod:`mnistbench.reference.tolerances`."""

from __future__ import annotations

import numpy as np
import pytest

from mnistbench.reference.model import Params, init_params
from mnistbench.reference.tolerances import ADAM_STEP_BOUND, OUTLIER_SHARE, TOL, TRAJECTORY_TOL

__all__ = [
    "ADAM_STEP_BOUND",
    "TOL",
    "TRAJECTORY_TOL",
    "assert_close",
    "assert_params_close",
    "assert_trajectory_close",
    "digit_like",
    "params_for",
]

DTYPES = [np.float64, np.float32]


def assert_close(actual, expected, dtype, table=TOL, err_msg: str = "") -> None:
    atol, rtol = table[np.dtype(dtype)]
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol, err_msg=err_msg)


def assert_trajectory_close(
    actual, expected, dtype, *, step_bound: float | None = None, err_msg: str = ""
) -> None:
    """A whole trajectory (an epoch or more of updates) against the oracle's, per TRAJECTORY_TOL.

    float64: every element within ``atol + rtol |expected|``. float32: the same bound in norm
    (``||a - e|| <= rtol ||e|| + atol sqrt(n)``), and elementwise for all but
    :data:`OUTLIER_SHARE` of the elements (at least one), each outlier within ``step_bound``
    where given. Why: a float32 epoch is ill-conditioned in a few coordinates on any CPU. Where a
    pre-activation lies within rounding of a ReLU kink, or an Adam coordinate's gradient is at
    rounding level (its update m/sqrt(v) is then +-lr whatever the gradient's size), a last-bit
    difference in a sum (FMA, vector width, summation order: AVX2 vs AVX-512 code) moves that
    coordinate by up to a whole update, not by ulps; an elementwise bound tuned on one CPU then
    fails on another (seen: 1 element of 29,008 off by 0.9% on an Intel Xeon). ``step_bound``:
    how far such a coordinate can move, e.g. ``2 * steps * lr * ADAM_STEP_BOUND`` for Adam.
    """
    atol, rtol = TRAJECTORY_TOL[np.dtype(dtype)]
    actual, expected = np.asarray(actual), np.asarray(expected)
    if np.dtype(dtype) == np.float64:
        np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol, err_msg=err_msg)
        return
    assert actual.shape == expected.shape, err_msg
    error = np.abs(actual.astype(np.float64) - expected)
    norm_bound = rtol * np.linalg.norm(expected) + atol * np.sqrt(expected.size)
    assert np.linalg.norm(error) <= norm_bound, (
        f"{err_msg}: norm-wise error {np.linalg.norm(error):.3g} > {norm_bound:.3g}"
    )
    outside = error > atol + rtol * np.abs(expected)
    allowed = max(1, int(OUTLIER_SHARE * expected.size))
    assert outside.sum() <= allowed, (
        f"{err_msg}: {outside.sum()} of {expected.size} elements beyond atol {atol:g} + rtol "
        f"{rtol:g} (at most {allowed} allowed), worst {error.max():.3g}"
    )
    if step_bound is not None and outside.any():
        assert error[outside].max() <= step_bound, (
            f"{err_msg}: an outlier moved {error[outside].max():.3g} > {step_bound:.3g}"
        )


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


def adam_epochs_by_thread_count(monkeypatch, network, X, Y, order, counts, output="softmax"):
    """{count: ((new network, loss sum, correct), optimizer state, probabilities)}.

    One Adam epoch (batch 64, lr 1e-2, relu) of the layer-stack kernels per thread count, with
    ``numba.get_num_threads`` made to report that count.
    """
    import numba

    from mnistbench.kernels import network as kn
    from mnistbench.reference.optim import OptimizerConfig, init_state

    runs = {}
    for count in counts:
        monkeypatch.setattr(numba, "get_num_threads", lambda count=count: count)
        state = init_state(network)
        epoch = kn.network_epoch(
            network, X, Y, order, 64, 1e-2, state, OptimizerConfig("adam"), 0.0, "relu", output
        )
        runs[count] = epoch, state, kn.predict_proba(epoch[0], X, "relu", output)
    return runs
