"""Bad inputs to every public kernel entry point: the right exception, a message naming it.

Kind errors (object, complex, bool, string arrays; float labels) raise ``TypeError``; value and
shape errors raise ``ValueError``. Layouts that are merely unusual (Fortran order, strided
views) are accepted and give the C-order result. Out-of-range indices never reach a kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bad_cases import ORDER, PARAMS, TINY, X_OK, Y_OK, M, layouts, leaves, x_bad_cases, y_bad_cases
from mnistbench import kernels
from mnistbench.reference.model import Params
from mnistbench.reference.training import TrainConfig

X_BAD = x_bad_cases()
Y_BAD = y_bad_cases()
LAYOUTS = layouts()


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
}
CALLS = {**TAKES_X, **TAKES_XY}


@pytest.mark.parametrize(("case", "X", "exc", "match"), X_BAD, ids=[c[0] for c in X_BAD])
@pytest.mark.parametrize("function", list(CALLS))
def test_bad_X_is_refused_with_a_message(function, case, X, exc, match):
    Y = Y_OK if np.ndim(X) != 2 else Y_OK[: np.shape(X)[0]]
    if case == "783_columns" and function in ("gradient_descent", "train"):
        # The kernel drivers size the network from X, like the reference: not an error there.
        assert CALLS[function](X, Y)[0].W1.shape == (8, 783)
        return
    with pytest.raises(exc, match=match):
        CALLS[function](X, Y)


@pytest.mark.parametrize(("case", "Y", "exc", "match"), Y_BAD, ids=[c[0] for c in Y_BAD])
@pytest.mark.parametrize("function", list(TAKES_XY))
def test_bad_labels_are_refused_with_a_message(function, case, Y, exc, match):
    with pytest.raises(exc, match=match):
        TAKES_XY[function](X_OK, Y)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("function", list(CALLS))
def test_unusual_layouts_are_accepted_and_match_c_order(function, layout):
    X = LAYOUTS[layout]
    assert not X.flags.c_contiguous
    Y_strided = np.repeat(Y_OK, 2)[::2]
    got, want = CALLS[function](X, Y_strided), CALLS[function](np.ascontiguousarray(X), Y_OK)
    got_leaves, want_leaves = leaves(got), leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves, strict=True):
        np.testing.assert_array_equal(g, w)


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
        (
            lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER, 0, 0.1),
            ValueError,
            r"batch_size must be in 1\.\.50 \(the number of rows\), got 0",
        ),
        (
            lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER, M + 1, 0.1),
            ValueError,
            r"batch_size must be in 1\.\.50 \(the number of rows\), got 51",
        ),
        (
            lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER, 2.5, 0.1),
            TypeError,
            "batch_size must be an integer",
        ),
        (
            lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER + 5, 10, 0.1),
            ValueError,
            "order must be a permutation",
        ),
        (
            lambda: kernels.train(X_OK, Y_OK, TrainConfig(batch_size=0)),
            ValueError,
            "batch_size must be a positive integer",
        ),
        (
            lambda: kernels.train(X_OK, Y_OK, TrainConfig(batch_size=M + 1)),
            ValueError,
            r"batch_size must be in 1\.\.50 \(the number of rows\), got 51",
        ),
    ],
    ids=["epoch_0", "epoch_too_big", "epoch_float", "epoch_bad_order", "train_0", "train_too_big"],
)
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
    "function", ["update_params", "fused_step", "minibatch_epoch", "gradient_descent", "train"]
)
def test_bad_learning_rate_is_refused(function, rate, exc, match):
    if function in ("gradient_descent", "train"):
        exc = ValueError  # TrainConfig's validation reports every bad value as ValueError
        match = "learning_rate must be finite and > 0"
    call = {
        "update_params": lambda: kernels.update_params(PARAMS, PARAMS, rate),
        "fused_step": lambda: kernels.fused_step(PARAMS, X_OK, Y_OK, rate),
        "minibatch_epoch": lambda: kernels.minibatch_epoch(PARAMS, X_OK, Y_OK, ORDER, 10, rate),
        "gradient_descent": lambda: kernels.gradient_descent(X_OK, Y_OK, rate, 2),
        "train": lambda: kernels.train(X_OK, Y_OK, TrainConfig(learning_rate=rate)),
    }[function]
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("hidden", [0, -3, 2.5, True, "10"], ids=repr)
@pytest.mark.parametrize("function", ["gradient_descent", "train"])
def test_bad_hidden_size_is_refused(function, hidden):
    call = {
        "gradient_descent": lambda: kernels.gradient_descent(X_OK, Y_OK, 0.1, 2, hidden=hidden),
        "train": lambda: kernels.train(X_OK, Y_OK, TrainConfig(hidden=hidden)),
    }[function]
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        call()


NASTY = """
import numpy as np
from mnistbench import kernels
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
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])  # not a signal
    assert "ACCEPTED" not in result.stdout
    assert result.stdout.count("ValueError") == 5, result.stdout
    assert result.stderr.rstrip().splitlines()[-1].startswith("ValueError: Y labels must be in")
