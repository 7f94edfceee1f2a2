"""The ``notebook`` baseline: the seed notebook's code verbatim, timed but never validated.

It is not the oracle, so these tests pin down what it is: the reference's weight gradients, one
scalar bias gradient (the sum of the reference's per-unit ones), the overflowing softmax; and
that the registry times it without comparing it, while still refusing any other wrong variant.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from mnistbench.baselines import notebook
from mnistbench.bench.variants import BASELINES, FULL_BATCH, check_against_reference
from mnistbench.reference import model as ref
from mnistbench.reference.data import seed_scale_matrix
from mnistbench.reference.tolerances import TOL

ATOL, RTOL = TOL[np.dtype(np.float64)]


@pytest.fixture(scope="module")
def data():
    X8, Y = seed_scale_matrix(1200, seed=3)
    return X8, Y, ref.init_params(10, seed=4)


def test_notebook_source_keeps_its_lines_verbatim():
    source = inspect.getsource(notebook)
    for line in (
        "A = np.exp(Z) / sum(np.exp(Z))",
        "Z1 = W1.dot(X) + b1",
        "db1 = 1 / m * np.sum(dZ1)",
        "dW1 = 1 / m * dZ1.dot(X.T)",
        "one_hot_Y = np.zeros((Y.size, Y.max() + 1))",
        "return np.argmax(A2, 0)",
        "W1 = np.random.rand(10, 784) - 0.5",
    ):
        assert line in source, line


@pytest.mark.parametrize("pixels", ["uint8", "float64"])
def test_step_has_reference_weights_and_one_scalar_bias_gradient(data, pixels):
    X8, Y, params = data
    X = X8 / 255.0
    lr = 0.1
    got, got_loss = FULL_BATCH["notebook"](params, X8 if pixels == "uint8" else X, Y)(params, lr)
    acts = ref.forward_prop(params, X)
    grads = ref.backward_prop(params, acts, X, Y)
    want = ref.update_params(params, grads, lr)
    np.testing.assert_allclose(got.W1, want.W1, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(got.W2, want.W2, atol=ATOL, rtol=RTOL)
    # the notebook's db = 1/m * np.sum(dZ): every bias moves by the sum over units
    np.testing.assert_allclose(got.b1, params.b1 - lr * grads.b1.sum(), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(got.b2, params.b2 - lr * grads.b2.sum(), atol=ATOL, rtol=RTOL)
    assert np.ptp(got.b1 - params.b1) < 1e-15  # one scalar step for all units
    assert np.abs(got.b1 - want.b1).max() > 1e-3  # ... which the reference does not take
    assert got_loss == pytest.approx(ref.loss(acts.Z2, Y), rel=1e-12)
    assert [p.shape for p in got] == [p.shape for p in params]


def test_notebook_softmax_overflows_where_the_reference_does_not():
    Z = np.array([[1000.0, 1.0], [0.0, 2.0]])  # samples are columns in the notebook
    with np.errstate(over="ignore", invalid="ignore"):
        A = notebook.softmax(Z)
    assert np.isnan(A[0, 0]) and A[1, 0] == 0  # inf / inf; the true column is [1, e^-1000]
    np.testing.assert_allclose(ref.softmax(Z.T)[0], [1.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(A[:, 1], ref.softmax(Z.T)[1], rtol=1e-15)


def test_notebook_loop_trains_on_columns(capsys):
    X8, Y = seed_scale_matrix(600, seed=0)
    notebook.set_m(600)
    state = np.random.get_state()  # noqa: NPY002  (the notebook's global RNG)
    try:
        np.random.seed(0)  # noqa: NPY002
        _, b1_start, _, _ = notebook.init_params()
        np.random.seed(0)  # noqa: NPY002
        W1, b1, W2, b2 = notebook.gradient_descent(X8.T / 255.0, Y, 0.10, 21)
    finally:
        np.random.set_state(state)  # noqa: NPY002
        notebook.set_m(42000)
    printed = [
        float(line)
        for line in capsys.readouterr().out.splitlines()
        if line.replace(".", "", 1).isdigit()
    ]
    assert len(printed) == 3 and printed[-1] > printed[0] + 0.1  # iterations 0, 10, 20
    assert b1.shape == (10, 1) and np.ptp(b1 - b1_start) < 1e-12  # biases move together
    assert np.abs(b1 - b1_start).max() > 1e-6
    predictions = notebook.make_predictions(X8.T / 255.0, W1, b1, W2, b2)
    assert predictions.shape == (600,) and np.mean(predictions == Y) == pytest.approx(
        printed[-1], abs=0.1
    )


def test_registry_marks_the_notebook_a_float64_baseline(data):
    X8, Y, params = data
    assert "notebook" in BASELINES and next(iter(FULL_BATCH)) == "notebook"
    check_against_reference("notebook", params, X8, Y)  # differs from the reference, not refused
    with pytest.raises(ValueError, match="float64 only, got float32"):
        FULL_BATCH["notebook"](params.astype(np.float32), X8, Y)
    with pytest.raises(ValueError, match="must contain class 9, its largest label is 8"):
        FULL_BATCH["notebook"](params, X8[Y < 9], Y[Y < 9])


def test_the_check_still_refuses_wrong_variants_and_broken_baselines(data, monkeypatch):
    from mnistbench.bench import variants

    X8, Y, params = data

    def off_by_a_bit(params, X, Y):
        step = FULL_BATCH["notebook"](params, X, Y)  # the notebook's bias bug, not a baseline
        return step

    monkeypatch.setitem(variants.FULL_BATCH, "wrong", off_by_a_bit)
    with pytest.raises(RuntimeError, match="refusing to time wrong .* b1 differs"):
        check_against_reference("wrong", params, X8, Y)

    def diverging(params, X, Y):
        return lambda params, lr: (params._replace(W1=params.W1 * np.nan), float("nan"))

    monkeypatch.setitem(variants.FULL_BATCH, "notebook", diverging)
    with pytest.raises(RuntimeError, match="baseline notebook .* non-finite or misshapen W1"):
        check_against_reference("notebook", params, X8, Y)
