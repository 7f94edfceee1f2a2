"""The ReLU kink envelope: how far a correct float32 gradient may sit from the float64 oracle
because a pre-activation within rounding of 0 took the other side of the kink."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import digit_like
from mnistbench.reference.kinks import kink_envelope
from mnistbench.reference.network import (
    Network,
    activation_grad,
    backward,
    forward,
    init_network,
)
from mnistbench.reference.training import as_float


def _flipped_backward(net, X, Y, layer, row, unit):
    """backward() with relu'(Z[row, unit]) of hidden ``layer`` taken on the other side."""
    import mnistbench.reference.network as rn

    fwd = forward(net, X)

    original = rn.activation_grad

    def patched(name, Z, A):
        grad = original(name, Z, A)
        if Z is fwd.Z[layer]:
            grad = grad.copy()
            grad[row, unit] = 1 - grad[row, unit]
        return grad

    rn.activation_grad = patched
    try:
        return backward(net, fwd, X, Y)
    finally:
        rn.activation_grad = original


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu"])
def test_smooth_activations_have_no_envelope(activation):
    X, Y = digit_like(50, seed=1)
    net = init_network((784, 12, 10), activation=activation, seed=0, dtype=np.float64)
    assert all(not np.any(b) for b in kink_envelope(net, as_float(X, np.float64), Y, activation))


@pytest.mark.parametrize("sizes", [(784, 12, 10), (784, 12, 8, 10)])
def test_a_flipped_kink_at_a_zero_pre_activation_stays_inside_the_envelope(sizes):
    X, Y = digit_like(64, seed=2)
    X = as_float(X, np.float64)
    net = init_network(sizes, activation="relu", seed=3, dtype=np.float64)
    arrays = [a.copy() for a in net]
    Z = forward(net, X).Z[0]
    arrays[1][5] -= Z[7, 5]  # the first hidden layer's unit 5 now has Z[7, 5] == 0 (to rounding)
    net = Network(arrays)
    assert abs(forward(net, X).Z[0][7, 5]) < 1e-12
    envelope = kink_envelope(net, X, Y)
    assert envelope[0][5].max() > 0 and envelope[1][5] > 0
    exact = backward(net, forward(net, X), X, Y)
    flipped = _flipped_backward(net, X, Y, layer=0, row=7, unit=5)
    for a, b, bound in zip(flipped, exact, envelope, strict=True):
        assert np.all(np.abs(a - b) <= bound + 1e-15)
    assert np.abs(flipped[0] - exact[0]).max() > 0  # the flip did change the gradient
    assert activation_grad("relu", np.zeros(1), np.zeros(1))[0] == 0


def test_envelope_is_empty_away_from_kinks_and_the_peer_check_still_catches_wrong_gradients(
    monkeypatch,
):
    from mnistbench.bench import peers

    X8, Y = digit_like(256, seed=4)
    net = init_network((784, 16, 10), activation="relu", seed=5, dtype=np.float32)
    envelope = kink_envelope(net, as_float(X8, np.float64), Y)
    assert np.count_nonzero(envelope[1]) <= 2  # a unit or two with a row within rounding of 0
    assert not np.any(envelope[2]) and not np.any(envelope[3])  # the output layer has no kink

    def scaled(engine, start, X, y):
        X64 = as_float(X, np.float64)
        exact = Network([np.asarray(a, np.float64) for a in start])
        from mnistbench.reference.network import loss

        grads = backward(exact, forward(exact, X64), X64, y)
        return loss(exact, X64, y), tuple(
            g * (1.01 if i == 0 else 1.0) for i, g in enumerate(grads)
        )

    monkeypatch.setattr(peers, "peer_gradients", scaled)
    with pytest.raises(RuntimeError, match="refusing to time jax at hidden 16: its gradient 0"):
        peers.check_peer_gradients("jax", net, X8, Y, rows=256)
