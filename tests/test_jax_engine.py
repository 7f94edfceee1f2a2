"""The JAX peer is the loop a JAX user writes (jax.jit + optax, lax.scan over the batches), and
it computes what the reference computes, in float32 (JAX's default precision)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ADAM_STEP_BOUND, TOL, TRAJECTORY_TOL, assert_trajectory_close, digit_like
from mnistbench.reference.kinks import kink_envelope
from mnistbench.reference.network import (
    Network,
    backward,
    forward,
    init_network,
    loss,
    network_epoch,
)
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.training import as_float

pytest.importorskip("jax")
pytest.importorskip("optax")
from mnistbench.jax_engine import gradients, training_loop

F32 = np.dtype(np.float32)


@pytest.mark.parametrize(
    ("sizes", "activation"),
    [
        ((784, 16, 10), "relu"),
        ((784, 24, 12, 10), "tanh"),
        ((784, 8, 8, 10), "gelu"),
        ((784, 12, 10), "leaky_relu"),
    ],
)
def test_gradients_match_the_reference_backward(sizes, activation):
    """Against the reference evaluated in float64, within the float32 tolerance plus the ReLU
    kink envelope (a pre-activation within rounding of 0 may take either side on any CPU)."""
    X, Y = digit_like(200, seed=4)
    net = init_network(sizes, activation=activation, seed=2, dtype=np.float32)
    exact = Network([np.asarray(a, np.float64) for a in net])
    X64 = as_float(X, np.float64)
    got_loss, got = gradients(net, X, Y, activation)
    want = backward(exact, forward(exact, X64, activation), X64, Y, activation)
    envelope = kink_envelope(exact, X64, Y, activation)
    atol, rtol = TOL[F32]
    np.testing.assert_allclose(got_loss, loss(exact, X64, Y, activation), atol=atol, rtol=rtol)
    for g, w, kink in zip(got, want, envelope, strict=True):
        assert np.all(np.abs(g - w) <= atol + rtol * np.abs(w) + kink)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("batch_size", [64, 300])  # 300 rows: a remainder batch of 44, or none
def test_scan_loop_matches_reference_epochs(optimizer, batch_size):
    X, Y = digit_like(300, seed=3)
    sizes, lr = (784, 16, 10), (0.05 if optimizer == "sgd" else 1e-3)
    net = init_network(sizes, activation="relu", seed=1, dtype=np.float32)
    order = np.random.default_rng(2).permutation(300)
    epoch = training_loop(net, X, Y, optimizer=optimizer, learning_rate=lr)
    state, want = init_state(net), net
    for _ in range(3):  # optimizer state carried across epochs on both sides
        jax_loss = epoch(order, batch_size)
        want, loss_sum, _ = network_epoch(
            want,
            as_float(X, np.float32),
            Y,
            order,
            batch_size,
            lr,
            state,
            OptimizerConfig(optimizer),
        )
        atol, rtol = TRAJECTORY_TOL[F32]
        np.testing.assert_allclose(jax_loss, loss_sum / 300, atol=atol, rtol=rtol)
    steps = 3 * -(-300 // batch_size)
    bound = 2 * steps * lr * ADAM_STEP_BOUND if optimizer == "adam" else None
    for index, (g, w) in enumerate(zip(epoch.params(), want, strict=True)):
        assert_trajectory_close(g, w, F32, step_bound=bound, err_msg=f"array {index}")


def test_float64_is_refused_with_the_reason():
    from mnistbench.jax_engine import full_batch
    from mnistbench.reference.model import init_params

    X, Y = digit_like(20, seed=1)
    with pytest.raises(ValueError, match="float32 only"):
        full_batch(init_params(10, seed=0, dtype=np.float64), X, Y)
