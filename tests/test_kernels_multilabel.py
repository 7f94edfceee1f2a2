"""The layer-stack kernels' logistic (multilabel) output against the NumPy oracle.

forward, backward and probabilities per dtype and batch size (the tolerance table's one-call
``TOL``), one epoch per optimizer and a whole loss trajectory through the shared loop
(``TRAJECTORY_TOL``), the thread count not changing a bit, and bad indicator targets refused
before any kernel runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import (
    ADAM_STEP_BOUND,
    TRAJECTORY_TOL,
    adam_epochs_by_thread_count,
    assert_trajectory_close,
    digit_like,
)
from mnistbench.kernels import network as kn
from mnistbench.reference import network as rn
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.outputs import correct_count
from mnistbench.reference.tolerances import TOL
from mnistbench.reference.training import TrainConfig, as_float, fit

SIZES = {1: (784, 37, 6), 2: (50, 40, 13, 5)}
DTYPES = [np.float64, np.float32]
M = 300


def _problem(depth, activation, dtype, seed=0):
    """A network with non-zero biases, uint8 pixels X (M, n_in), a 0/1 Y (M, n_out) from X."""
    sizes = SIZES[depth]
    network = rn.init_network(sizes, activation=activation, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    for b in network.biases:
        b += rng.normal(0.0, 0.2, b.shape).astype(dtype)
    X, labels = digit_like(M, seed=seed + 2)
    X = X[:, : sizes[0]].copy()
    # Learnable targets: label bits, so the trajectory test's loss falls.
    Y = (labels[:, None] >> np.arange(sizes[-1]) & 1).astype(np.int64)
    return network, X, Y


def _close(actual, expected, dtype, what=""):
    atol, rtol = TOL[np.dtype(dtype)]
    assert actual.dtype == np.dtype(dtype), what
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol, err_msg=what)


@pytest.mark.parametrize("m", [1, 7, 128, M])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("depth", "activation"), [(1, "relu"), (2, "tanh"), (2, "logistic")])
def test_logistic_forward_backward_match_reference(depth, activation, dtype, m):
    network, X, Y = _problem(depth, activation, dtype)
    X, Y = X[:m], Y[:m]
    Xf = as_float(X, dtype)
    expected = rn.forward(network, Xf, activation, "logistic")
    actual = kn.forward(network, X, activation, "logistic")
    for name, got, want in zip(("Z", "A"), actual, expected, strict=True):
        for layer, (a, e) in enumerate(zip(got, want, strict=True)):
            _close(a, e, dtype, f"{name}{layer + 1}")
    proba = kn.predict_proba(network, X, activation, "logistic")
    _close(proba, expected.A[-1], dtype, "predict_proba")
    assert not np.allclose(proba.sum(axis=1), 1.0)  # sigmoids, not a softmax
    grads = kn.backward(network, actual, X, Y, activation, 1e-3, "logistic")
    want = rn.backward(network, expected, Xf, Y, activation, 1e-3, "logistic")
    for index, (a, e) in enumerate(zip(grads, want, strict=True)):
        _close(a, e, dtype, f"gradient {index}")
    np.testing.assert_array_equal(
        kn.predict(network, X, activation, "logistic"),
        (proba > 0.5).astype(np.int64),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("batch_size", [1, 7, 128])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_logistic_epoch_matches_reference(optimizer, batch_size, dtype):
    """Params, optimizer buffers, step count, loss sum and correct count after one epoch."""
    network, X, Y = _problem(2, "tanh", dtype, seed=3)
    order = np.random.default_rng(4).permutation(M)
    config = OptimizerConfig(optimizer)
    state, ref_state = init_state(network), init_state(network)
    args = (order, batch_size, 0.01)
    new, loss_sum, correct = kn.network_epoch(
        network, X, Y, *args, state, config, 1e-3, "tanh", "logistic"
    )
    ref, ref_loss, ref_correct = rn.network_epoch(
        network, as_float(X, dtype), Y, *args, ref_state, config, 1e-3, "tanh", "logistic"
    )
    steps = -(-M // batch_size)
    bound = 2 * steps * 0.01 * ADAM_STEP_BOUND if optimizer == "adam" else None
    actual, expected = new + state.first + state.second, ref + ref_state.first + ref_state.second
    for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a.dtype == np.dtype(dtype), f"array {index}"
        assert_trajectory_close(
            a, e, dtype, step_bound=bound if index < len(new) else None, err_msg=f"array {index}"
        )
    assert state.t == ref_state.t == steps
    assert loss_sum == pytest.approx(ref_loss, rel=TRAJECTORY_TOL[np.dtype(dtype)][1])
    assert abs(correct - ref_correct) <= (0 if dtype == np.float64 else 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_logistic_loss_trajectory_matches_reference(dtype):
    """Ten epochs of Adam with L2 through ``fit``: every logged loss and training accuracy."""
    network, X, Y = _problem(1, "relu", dtype, seed=5)
    optimizer = OptimizerConfig("adam")
    config = TrainConfig(
        hidden=37,
        batch_size=32,
        epochs=10,
        learning_rate=3e-3,
        l2=1e-4,
        optimizer="adam",
        seed=7,
        dtype=np.dtype(dtype).name,
    )
    Xf = as_float(X, dtype)
    runner = kn.NetworkRunner(
        network, X, Y, activation="relu", optimizer=optimizer, l2=1e-4, output="logistic"
    )

    def ref_epoch(net, order, batch_size, lr, state):
        return rn.network_epoch(
            net, Xf, Y, order, batch_size, lr, state, optimizer, 1e-4, "relu", "logistic"
        )

    def predict(net, Xd):
        return np.zeros(len(Xd))  # no dev set

    trained, history = fit(runner.run, predict, M, network, config, optimizer)
    ref, ref_history = fit(ref_epoch, predict, M, network, config, optimizer)
    atol, rtol = TRAJECTORY_TOL[np.dtype(dtype)]
    np.testing.assert_allclose(history.loss, ref_history.loss, atol=atol, rtol=rtol)
    assert history.loss[-1] < 0.5 * history.loss[0]
    np.testing.assert_allclose(history.train_accuracy, ref_history.train_accuracy, atol=2 / M)
    for a, e in zip(trained, ref, strict=True):
        assert_trajectory_close(a, e, dtype, step_bound=2 * 100 * 3e-3 * ADAM_STEP_BOUND)
    proba = kn.predict_proba(trained, X, "relu", "logistic")
    assert correct_count(proba, Y, "logistic") > M // 2


@pytest.mark.parametrize("threads", [1, 3])
def test_logistic_results_do_not_depend_on_thread_count(monkeypatch, threads):
    network, X, Y = _problem(2, "relu", np.float32, seed=6)
    order = np.random.default_rng(8).permutation(M)
    runs = adam_epochs_by_thread_count(
        monkeypatch, network, X, Y, order, (2, threads), output="logistic"
    )
    (new, _, correct), _, probs = runs[threads]
    (ref, _, ref_correct), _, ref_probs = runs[2]
    for a, e in zip((*new, probs), (*ref, ref_probs), strict=True):
        np.testing.assert_array_equal(a, e)
    assert correct == ref_correct


@pytest.mark.parametrize(
    ("Y", "match"),
    [
        (np.zeros((M, 4), np.int64), r"\(300, 5\) 0/1 indicator"),
        (np.zeros(M, np.int64), r"\(300, 5\) 0/1 indicator"),
        (np.full((M, 5), 2), "only 0 and 1"),
    ],
    ids=["columns", "labels", "values"],
)
def test_bad_indicator_targets_are_refused_before_any_kernel(Y, match):
    network, X, _ = _problem(2, "relu", np.float64)
    with pytest.raises(ValueError, match=match):
        kn.NetworkRunner(network, X, Y, output="logistic")
    fwd = rn.forward(network, as_float(X, np.float64), "relu", "logistic")
    with pytest.raises(ValueError, match=match):
        kn.backward(network, fwd, X, Y, "relu", 0.0, "logistic")
    with pytest.raises(ValueError, match="output must be one of"):
        kn.predict_proba(network, X, "relu", "sigmoid")
