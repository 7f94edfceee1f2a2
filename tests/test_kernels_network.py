"""The layer-stack Numba kernels (kernels/network.py) against the NumPy oracle
(reference/network.py): forward, backward, probabilities and whole epochs for depth 1-3, every
activation, float64 and float32, batch sizes 1, 7, 128 and the full set; an N-epoch loss
trajectory through the shared loop; results independent of the thread count; bad inputs
rejected before any kernel runs.

Tolerances, |kernel - reference| <= atol + rtol |reference|: one call (forward, backward) float64
(1e-12, 1e-10), float32 (1e-5, 1e-4); whole epochs and trajectories, where rounding compounds
over the steps, the registry's TRAJECTORY_TOL.
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
from mnistbench.reference.data import load_embedded
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.training import TrainConfig, as_float, fit

CALL_TOL = {np.dtype(np.float64): (1e-12, 1e-10), np.dtype(np.float32): (1e-5, 1e-4)}
# Widths chosen to exercise partial tiles (not multiples of 3 or 8), layers split across threads
# by units (>= 32) and by inputs (< 32), and a 784-pixel input layer.
SIZES = {1: (784, 37, 10), 2: (50, 40, 13, 10), 3: (50, 33, 9, 21, 10)}
BATCHES = [1, 7, 128, None]  # None: the full set of 300 rows
DTYPES = [np.float64, np.float32]
M = 300


def _close(actual, expected, dtype, table=CALL_TOL, what=""):
    atol, rtol = table[np.dtype(dtype)]
    assert actual.dtype == np.dtype(dtype), what
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol, err_msg=what)


def _problem(depth, activation, dtype, m=M, seed=0):
    """A network with non-zero biases, uint8 pixels X (m, n_in) and labels in 0..9."""
    network = rn.init_network(SIZES[depth], activation=activation, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    for b in network.biases:
        b += rng.normal(0.0, 0.2, b.shape).astype(dtype)
    X, Y = digit_like(m, seed=seed + 2)
    return network, X[:, : SIZES[depth][0]].copy(), Y


@pytest.mark.parametrize("m", [1, 7, 128, M])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", rn.ACTIVATIONS)
def test_forward_backward_match_reference(activation, depth, dtype, m):
    network, X, Y = _problem(depth, activation, dtype)
    X, Y = X[:m], Y[:m]
    Xf = as_float(X, dtype)
    expected = rn.forward(network, Xf, activation)
    actual = kn.forward(network, X, activation)
    for name, got, want in zip(("Z", "A"), actual, expected, strict=True):
        for layer, (a, e) in enumerate(zip(got, want, strict=True)):
            _close(a, e, dtype, what=f"{name}{layer + 1}")
    grads = kn.backward(network, expected, X, Y, activation, l2=0.01)
    ref_grads = rn.backward(network, expected, Xf, Y, activation, 0.01)
    for index, (g, e) in enumerate(zip(grads, ref_grads, strict=True)):
        _close(g, e, dtype, what=f"gradient {index}")
    _close(kn.predict_proba(network, X, activation), expected.A[-1], dtype, what="probabilities")
    if dtype == np.float64:
        np.testing.assert_array_equal(
            kn.predict(network, X, activation), rn.predict(network, Xf, activation)
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_float_input_equals_pixel_input(dtype):
    """uint8 pixels scaled in the kernel, or floats in [0, 1] passed in, give the same network
    after an epoch (inputs differ in the last bit: x * (1/255) against x / 255)."""
    network, X, Y = _problem(1, "relu", dtype)
    order = np.random.default_rng(3).permutation(M)
    runs = []
    for inputs in (X, as_float(X, dtype), as_float(X, np.float64)):
        state = init_state(network)
        adam = OptimizerConfig("adam")
        runs.append(kn.network_epoch(network, inputs, Y, order, 32, 1e-2, state, adam))
    steps = -(-M // 32)
    for new, loss_sum, correct in runs[1:]:
        for index, (a, e) in enumerate(zip(new, runs[0][0], strict=True)):
            assert a.dtype == np.dtype(dtype)
            assert_trajectory_close(
                a, e, dtype, step_bound=2 * steps * 1e-2 * ADAM_STEP_BOUND, err_msg=f"array {index}"
            )
        assert correct == runs[0][2]
        assert loss_sum == pytest.approx(runs[0][1], rel=1e-6)


@pytest.mark.parametrize("batch_size", BATCHES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(
    ("depth", "activation", "optimizer", "l2"),
    [
        (1, "relu", "adam", 0.0),
        (2, "gelu", "adam", 1e-3),
        (3, "tanh", "momentum", 0.0),
        (2, "sigmoid", "sgd", 1e-3),
        (3, "leaky_relu", "adam", 1e-3),
    ],
)
def test_epoch_matches_reference(depth, activation, optimizer, l2, dtype, batch_size):
    """Params, optimizer buffers, step count, loss sum and correct count after one epoch."""
    network, X, Y = _problem(depth, activation, dtype, seed=depth)
    batch_size = batch_size or M
    order = np.random.default_rng(4).permutation(M)
    config = OptimizerConfig(optimizer)
    state, ref_state = init_state(network), init_state(network)
    new, loss_sum, correct = kn.network_epoch(
        network, X, Y, order, batch_size, 0.01, state, config, l2, activation
    )
    ref, ref_loss, ref_correct = rn.network_epoch(
        network, as_float(X, dtype), Y, order, batch_size, 0.01, ref_state, config, l2, activation
    )
    actual = new + state.first + state.second
    expected = ref + ref_state.first + ref_state.second
    steps = -(-M // batch_size)
    bound = 2 * steps * 0.01 * ADAM_STEP_BOUND if optimizer == "adam" else None
    for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a.dtype == np.dtype(dtype), f"array {index}"
        assert_trajectory_close(
            a, e, dtype, step_bound=bound if index < len(new) else None, err_msg=f"array {index}"
        )
    assert state.t == ref_state.t == -(-M // batch_size)
    assert loss_sum == pytest.approx(ref_loss, rel=TRAJECTORY_TOL[np.dtype(dtype)][1])
    assert abs(correct - ref_correct) <= (0 if dtype == np.float64 else 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_loss_trajectory_matches_reference(dtype):
    """Eight epochs of Adam with a cosine schedule and L2 through ``fit`` on 300 real digits:
    every logged loss, training and dev accuracy equal the reference's."""
    data = load_embedded()
    X, Y, X_dev, Y_dev = data.X[:M], data.y[:M], data.X[M : M + 100], data.y[M : M + 100]
    network = rn.init_network((784, 40, 13, 10), seed=5, dtype=dtype)
    kwargs = dict(batch_size=32, epochs=8, learning_rate=3e-3, lr_schedule="cosine", l2=1e-4)
    trained, history = kn.train_network(
        X, Y, network, activation="relu", seed=7, dtype=dtype, X_dev=X_dev, Y_dev=Y_dev, **kwargs
    )
    optimizer = OptimizerConfig("adam")
    Xf = as_float(X, dtype)

    def epoch(net, order, batch_size, lr, state):
        return rn.network_epoch(net, Xf, Y, order, batch_size, lr, state, optimizer, 1e-4)

    config = TrainConfig(hidden=40, optimizer="adam", seed=7, dtype=np.dtype(dtype).name, **kwargs)
    ref, ref_history = fit(
        epoch,
        lambda net, Xd: rn.predict(net, as_float(Xd, dtype)),
        M,
        network,
        config,
        optimizer,
        X_dev=X_dev,
        Y_dev=Y_dev,
    )
    atol, rtol = TRAJECTORY_TOL[np.dtype(dtype)]
    np.testing.assert_allclose(history.loss, ref_history.loss, atol=atol, rtol=rtol)
    assert history.loss[-1] < 0.5 * history.loss[0]
    np.testing.assert_allclose(history.train_accuracy, ref_history.train_accuracy, atol=2 / M)
    np.testing.assert_allclose(history.dev_accuracy, ref_history.dev_accuracy, atol=1 / 100)
    for a, e in zip(trained, ref, strict=True):
        _close(a, e, dtype, TRAJECTORY_TOL)


@pytest.mark.parametrize("threads", [1, 3])
def test_results_do_not_depend_on_thread_count(monkeypatch, threads):
    """Each weight is computed by one thread in a fixed order: 1 or 3 threads give the same
    bits as 2; only the float64 loss sum's order differs."""
    network, X, Y = _problem(2, "relu", np.float32, seed=6)
    order = np.random.default_rng(8).permutation(M)
    runs = adam_epochs_by_thread_count(monkeypatch, network, X, Y, order, (2, threads))
    (new, loss_sum, correct), state, probs = runs[threads]
    (ref, ref_loss, ref_correct), ref_state, ref_probs = runs[2]
    np.testing.assert_array_equal(probs, ref_probs)
    for a, e in zip(new + state.first, ref + ref_state.first, strict=True):
        np.testing.assert_array_equal(a, e)
    assert correct == ref_correct
    assert loss_sum == pytest.approx(ref_loss, rel=1e-12)


def test_network_epoch_leaves_input_untouched_and_advances_state():
    network, X, Y = _problem(1, "relu", np.float32)
    before = network.copy()
    state = init_state(network)
    kn.network_epoch(network, X, Y, np.arange(M), 100, 1e-2, state, OptimizerConfig("adam"))
    for a, e in zip(network, before, strict=True):
        np.testing.assert_array_equal(a, e)
    assert state.t == 3
    assert all(np.abs(m).max() > 0 for m in state.first)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda n, X, Y: kn.forward(n, X[:, :-1]), ValueError, "784 columns"),
        (lambda n, X, Y: kn.forward(n, np.where(X > 0, np.nan, 0.0)), ValueError, "NaN"),
        (lambda n, X, Y: kn.forward(n, X, "swish"), ValueError, "activation"),
        (lambda n, X, Y: kn.forward(n[:-1], X), ValueError, "even number"),
        (lambda n, X, Y: kn.forward((n[0] * np.inf, *n[1:]), X), ValueError, "NaN or Inf"),
        (lambda n, X, Y: kn.predict(n, X.astype(bool)), TypeError, "bool"),
        (lambda n, X, Y: kn.backward(n, kn.forward(n, X), X, Y + 10), ValueError, "0..9"),
        (lambda n, X, Y: kn.backward(n, kn.forward(n, X[:5]), X, Y), ValueError, "Forward"),
        (
            lambda n, X, Y: kn.network_epoch(
                n, X, Y, np.arange(M) + 1, 8, 0.1, init_state(n), OptimizerConfig()
            ),
            ValueError,
            "order",
        ),
        (
            lambda n, X, Y: kn.network_epoch(
                n, X, Y, np.arange(M), 0, 0.1, init_state(n), OptimizerConfig()
            ),
            ValueError,
            "batch_size",
        ),
        (
            lambda n, X, Y: kn.network_epoch(
                n, X, Y, np.arange(M), 8, -1.0, init_state(n), OptimizerConfig()
            ),
            ValueError,
            "learning_rate",
        ),
        (
            lambda n, X, Y: kn.network_epoch(
                n, X, Y, np.arange(M), 8, 0.1, init_state(n[:2] + n[:2]), OptimizerConfig()
            ),
            ValueError,
            "state",
        ),
    ],
)
def test_bad_inputs_rejected_before_any_kernel(call, error, match):
    network, X, Y = _problem(1, "relu", np.float32)
    with pytest.raises(error, match=match):
        call(network, X, Y)
