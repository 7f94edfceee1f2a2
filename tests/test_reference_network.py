"""The general layer-stack oracle (reference/network.py): gradients by finite differences for
every activation and depth, the seed network as its depth-1 ReLU case, initialisation, dtypes,
bad inputs, the epoch against minibatch_epoch, and learning on real digits."""

from __future__ import annotations

import itertools
import math
import pickle
import re

import numpy as np
import pytest

from conftest import digit_like
from mnistbench.reference import model
from mnistbench.reference.data import load_embedded
from mnistbench.reference.model import Params
from mnistbench.reference.network import (
    ACTIVATIONS,
    LEAKY_RELU_SLOPE,
    Network,
    activate,
    activation_grad,
    backward,
    default_init,
    forward,
    init_network,
    layer_sizes,
    loss,
    network_epoch,
    predict,
    predict_proba,
)
from mnistbench.reference.optim import OPTIMIZERS, OptimizerConfig, init_state, optimizer_step
from mnistbench.reference.training import as_float, minibatch_epoch

SIZES_BY_DEPTH = {1: (7, 5, 3), 2: (7, 6, 4, 3), 3: (7, 5, 4, 3)}
# Depth-1 ReLU against the seed model: the same operations, so equal to rounding (atol, rtol).
SEED_TOL = {np.dtype(np.float64): (1e-14, 1e-12), np.dtype(np.float32): (1e-6, 1e-5)}


def _small_problem(activation: str, depth: int, seed: int):
    """A network with non-zero biases, X (6, 7) float64 and labels in 0..2."""
    rng = np.random.default_rng(seed)
    network = init_network(SIZES_BY_DEPTH[depth], activation=activation, seed=seed)
    for b in network.biases:
        b += rng.normal(0.0, 0.3, b.shape)
    X = rng.normal(size=(6, 7))
    Y = rng.integers(0, 3, 6)
    return network, X, Y


@pytest.mark.parametrize("l2", [0.0, 0.05], ids=["no_l2", "l2"])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_matches_finite_differences(activation, depth, l2):
    """Every entry of every array; central differences, eps 1e-6; |a - n| <= 1e-9 + 1e-6 |n|."""
    network, X, Y = _small_problem(activation, depth, seed=10 * depth + len(activation))
    fwd = forward(network, X, activation)
    if activation in ("relu", "leaky_relu"):
        # A +-1e-6 nudge moves any pre-activation by far less than 1e-3: no kink is crossed.
        margin = min(np.abs(Z).min() for Z in fwd.Z[:-1])
        assert margin > 1e-3, f"a hidden pre-activation is {margin:g} from the kink"
    grads = backward(network, fwd, X, Y, activation, l2)
    assert isinstance(grads, Network) and grads.sizes == network.sizes
    eps = 1e-6
    for i, (p, g) in enumerate(zip(network, grads, strict=True)):
        numeric = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            saved = p[idx]
            p[idx] = saved + eps
            up = loss(network, X, Y, activation, l2)
            p[idx] = saved - eps
            down = loss(network, X, Y, activation, l2)
            p[idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9, err_msg=f"array {i}")


def test_depth1_relu_is_the_seed_model(dtype):
    rng = np.random.default_rng(4)
    params = model.init_params(10, 784, 10, seed=4, dtype=dtype)
    network = init_network((784, 10, 10), init="seed", seed=4, dtype=dtype)
    for a, b in zip(params, network, strict=True):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    X = rng.random((20, 784)).astype(dtype)
    Y = rng.integers(0, 10, 20)
    atol, rtol = SEED_TOL[dtype]
    acts = model.forward_prop(params, X)
    fwd = forward(network, X, "relu")
    for want, got in zip(acts, (fwd.Z[0], fwd.A[0], fwd.Z[1], fwd.A[1]), strict=True):
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)
    want_loss = model.loss(acts.Z2, Y) + model.l2_penalty(params, 0.05)
    assert loss(network, X, Y, "relu", 0.05) == pytest.approx(want_loss, rel=rtol, abs=atol)
    want_grads = model.backward_prop(params, acts, X, Y, 0.05)
    got_grads = backward(network, fwd, X, Y, "relu", 0.05)
    for name, want, got in zip(Params._fields, want_grads, got_grads, strict=True):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg=name)
    np.testing.assert_array_equal(predict(network, X), model.make_predictions(X, params))
    np.testing.assert_allclose(predict_proba(network, X), acts.A2, atol=atol, rtol=rtol)


def test_seed_init_is_reproducible_and_draws_layer_by_layer():
    deep = init_network((12, 6, 5, 4), init="seed", seed=9)
    again = init_network((12, 6, 5, 4), init="seed", seed=9)
    assert all(np.array_equal(a, b) for a, b in zip(deep, again, strict=True))
    # The first layer consumes the generator exactly as init_params' W1, b1 do.
    shallow = model.init_params(6, 12, 5, seed=9)
    np.testing.assert_array_equal(deep[0], shallow.W1)
    np.testing.assert_array_equal(deep[1], shallow.b1)
    assert all(a.min() >= -0.5 and a.max() < 0.5 for a in deep)
    other = init_network((12, 6, 5, 4), init="seed", seed=10)
    assert not np.array_equal(deep[0], other[0])


@pytest.mark.parametrize("init", ["he", "glorot"])
def test_he_and_glorot_are_uniform_within_their_bounds_with_zero_biases(init):
    """Bounds exactly; variance a^2/3 of U(-a, a) within 10% (1000+ draws: about 3.5 sigma)."""
    sizes = (784, 300, 100, 10)
    network = init_network(sizes, init=init, seed=3)
    pairs = itertools.pairwise(sizes)
    for (fan_in, fan_out), W, b in zip(pairs, network.weights, network.biases, strict=True):
        limit = math.sqrt(6 / (fan_in if init == "he" else fan_in + fan_out))
        assert W.shape == (fan_out, fan_in)
        assert np.abs(W).max() <= limit
        assert np.abs(W).max() > 0.99 * limit
        assert abs(W.mean()) < 0.05 * limit
        np.testing.assert_allclose(W.var(), limit**2 / 3, rtol=0.1)
        np.testing.assert_array_equal(b, 0)


def test_default_init_follows_the_activation():
    assert [default_init(a) for a in ACTIVATIONS] == ["he"] * 2 + ["glorot"] * 4
    assert ACTIVATIONS == ("relu", "leaky_relu", "tanh", "logistic", "gelu", "identity")
    implicit = init_network((8, 4, 3), activation="tanh", seed=1)
    explicit = init_network((8, 4, 3), activation="tanh", init="glorot", seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(implicit, explicit, strict=True))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float32_stays_float32_everywhere(activation):
    network = init_network((7, 6, 4, 3), activation=activation, seed=2, dtype=np.float32)
    wide = init_network((7, 6, 4, 3), activation=activation, seed=2)
    for a, b in zip(network, wide, strict=True):  # drawn in float64, then cast
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b.astype(np.float32))
    rng = np.random.default_rng(2)
    X = rng.random((9, 7)).astype(np.float32)
    Y = rng.integers(0, 3, 9)
    fwd = forward(network, X, activation)
    assert all(a.dtype == np.float32 for a in fwd.Z + fwd.A)
    assert all(g.dtype == np.float32 for g in backward(network, fwd, X, Y, activation, 0.1))
    state = init_state(network)
    new, _, _ = network_epoch(
        network, X, Y, np.arange(9), 4, 0.01, state, OptimizerConfig("adam"), 0.1, activation
    )
    assert all(p.dtype == np.float32 for p in new + state.first + state.second)


def test_activations_values_and_edges():
    Z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(activate("relu", Z), [0, 0, 3])
    np.testing.assert_array_equal(activation_grad("relu", Z, activate("relu", Z)), [0, 0, 1])
    leaky = activate("leaky_relu", Z)
    np.testing.assert_allclose(leaky, [-2 * LEAKY_RELU_SLOPE, 0, 3], rtol=1e-15)
    grad = activation_grad("leaky_relu", Z, leaky)
    np.testing.assert_array_equal(grad, [LEAKY_RELU_SLOPE, LEAKY_RELU_SLOPE, 1])
    # gelu(x) = x Phi(x): Phi(1) = 0.8413447460685429
    np.testing.assert_allclose(
        activate("gelu", np.array([-1.0, 0.0, 1.0])),
        [-0.15865525393145707, 0.0, 0.8413447460685429],
        rtol=1e-15,
        atol=1e-17,
    )
    with np.errstate(over="raise", invalid="raise"):
        s = activate("sigmoid", np.array([-1000.0, -2.0, 0.0, 2.0, 1000.0]))
    e2 = math.exp(-2)
    np.testing.assert_allclose(s, [0, e2 / (1 + e2), 0.5, 1 / (1 + e2), 1], rtol=1e-15, atol=0)
    np.testing.assert_allclose(activate("tanh", Z), np.tanh(Z), rtol=0, atol=0)
    with pytest.raises(ValueError, match="'swish'"):
        activate("swish", Z)


def test_identity_and_the_sigmoid_alias():
    """identity is Z itself (a copy) with derivative 1; "sigmoid" is "logistic"."""
    Z = np.array([[-3.5, 0.0, 2.25]], np.float32)
    A = activate("identity", Z)
    assert A is not Z and A.dtype == np.float32
    np.testing.assert_array_equal(A, Z)
    np.testing.assert_array_equal(activation_grad("identity", Z, A), np.ones_like(Z))
    np.testing.assert_array_equal(activate("sigmoid", Z), activate("logistic", Z))
    assert default_init("sigmoid") == "glorot"


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_grad_matches_finite_differences(activation):
    """On a grid that avoids 0 (the ReLU kink): |a - n| <= 1e-9 + 1e-7 |n|."""
    Z = np.linspace(-4.0, 4.0, 41) + 0.05
    eps = 1e-6
    numeric = (activate(activation, Z + eps) - activate(activation, Z - eps)) / (2 * eps)
    got = activation_grad(activation, Z, activate(activation, Z))
    np.testing.assert_allclose(got, numeric, rtol=1e-7, atol=1e-9)
    Z32 = Z.astype(np.float32)
    A32 = activate(activation, Z32)
    assert A32.dtype == activation_grad(activation, Z32, A32).dtype == np.float32


def test_layer_sizes_accepts_ints_sequences_and_numpy_ints():
    assert layer_sizes(784, 128, 10) == (784, 128, 10)
    assert layer_sizes(784, [128, 64], 10) == (784, 128, 64, 10)
    sizes = layer_sizes(np.int64(784), (np.int32(32),), 10)
    assert sizes == (784, 32, 10) and all(type(s) is int for s in sizes)


@pytest.mark.parametrize(
    ("hidden", "error"),
    [
        (0, ValueError),
        (-3, ValueError),
        (2.5, TypeError),
        (True, TypeError),
        ("a,b", TypeError),
        ((), ValueError),
        ([128, 0], ValueError),
        ([128, 2.5], TypeError),
        (None, TypeError),
    ],
)
def test_layer_sizes_rejects_bad_hidden_naming_it(hidden, error):
    with pytest.raises(error, match=re.escape(repr(hidden))):
        layer_sizes(784, hidden, 10)


def test_bad_network_layouts_and_inputs_are_rejected():
    a = init_network((4, 3, 2), seed=0)
    with pytest.raises(ValueError, match="got 2"):
        Network(a[:2])
    with pytest.raises(ValueError, match=r"layer 2"):
        Network((a[0], a[1], a[2].T.copy(), a[3]))
    with pytest.raises(TypeError, match="float32"):
        Network((a[0], a[1].astype(np.float32), a[2], a[3]))
    with pytest.raises(ValueError, match="4 columns"):
        forward(a, np.zeros((2, 5)))
    with pytest.raises(TypeError, match="float32"):
        forward(a, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"0\.\.1"):
        loss(a, np.zeros((2, 4)), np.array([0, 2]))
    with pytest.raises(ValueError, match="'seed'"):
        init_network((4, 3, 2), init="xavier")
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        init_network((4, 2))


def test_network_container_behaviour():
    params = model.init_params(5, 7, 3, seed=1)
    network = Network.from_params(params)
    assert network.sizes == (7, 5, 3) and network.depth == 1
    assert (network.n_in, network.n_out, network.dtype) == (7, 3, np.float64)
    assert all(a is b for a, b in zip(network.to_params(), params, strict=True))
    deep = init_network((7, 6, 5, 3), seed=1)
    assert deep.depth == 2 and len(deep.weights) == len(deep.biases) == 3
    with pytest.raises(ValueError, match="depth 2"):
        deep.to_params()
    copied = deep.copy()
    copied[0][0, 0] += 1.0
    assert copied[0][0, 0] == deep[0][0, 0] + 1.0
    assert all(p.dtype == np.float32 for p in deep.astype(np.float32))
    restored = pickle.loads(pickle.dumps(deep))
    assert isinstance(restored, Network)
    assert all(np.array_equal(a, b) for a, b in zip(restored, deep, strict=True))
    assert repr(deep) == "Network(sizes=(7, 6, 5, 3), dtype=float64)"


def test_optimizer_keeps_the_network_type():
    """Momentum, two steps by hand: p2 = p0 - lr g1 - lr (0.9 g1 + g2), on a depth-3 network."""
    network = init_network((5, 4, 4, 3, 2), seed=6)
    g1 = Network(np.full_like(p, 0.5) for p in network)
    g2 = Network(np.full_like(p, -0.25) for p in network)
    state = init_state(network)
    assert isinstance(state.first, Network) and isinstance(state.second, Network)
    config = OptimizerConfig("momentum")
    new = optimizer_step(network, g1, state, 0.1, config)
    new = optimizer_step(new, g2, state, 0.1, config)
    assert isinstance(new, Network)
    for p0, p2 in zip(network, new, strict=True):
        np.testing.assert_allclose(p2, p0 - 0.05 - 0.1 * (0.45 - 0.25), rtol=1e-15, atol=1e-15)
    assert isinstance(init_state(model.init_params(3, 4, 2)).first, Params)


@pytest.mark.parametrize("batch_size", [7, 50], ids=["batch7", "full"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_network_epoch_depth1_relu_matches_minibatch_epoch(optimizer, batch_size):
    """Two epochs with L2: params, state, loss sum and correct count agree to 1e-12."""
    X, Y = digit_like(50, seed=3)
    X = as_float(X, np.float64)
    lr = {"sgd": 0.1, "momentum": 0.05, "adam": 0.005}[optimizer]
    config = OptimizerConfig(optimizer)
    params = model.init_params(8, seed=5)
    network = Network.from_params(params.copy())
    state_p, state_n = init_state(params), init_state(network)
    order = np.random.default_rng(0).permutation(50)
    for _ in range(2):
        params, loss_p, correct_p = minibatch_epoch(
            params, X, Y, order, batch_size, lr, state_p, config, 1e-3
        )
        network, loss_n, correct_n = network_epoch(
            network, X, Y, order, batch_size, lr, state_n, config, 1e-3, "relu"
        )
        assert loss_n == pytest.approx(loss_p, rel=1e-12, abs=1e-12)
        assert correct_n == correct_p
    assert isinstance(network, Network) and state_n.t == state_p.t
    want_all = params + state_p.first + state_p.second
    got_all = network + state_n.first + state_n.second
    for want, got in zip(want_all, got_all, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_epoch_loss_is_cross_entropy_before_the_update_without_l2():
    network, X, Y = _small_problem("tanh", 2, seed=1)
    state = init_state(network)
    _, loss_sum, correct = network_epoch(
        network, X, Y, np.arange(6), 6, 0.1, state, OptimizerConfig("sgd"), 0.5, "tanh"
    )
    assert loss_sum / 6 == pytest.approx(loss(network, X, Y, "tanh", 0.0), rel=1e-12)
    assert loss_sum / 6 < loss(network, X, Y, "tanh", 0.5) - 0.1
    assert correct == int(np.sum(predict(network, X, "tanh") == Y))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_two_layer_net_loss_decreases_on_embedded_digits(activation):
    """500 real digits, (32, 16) hidden, full-batch sgd at 0.2: each of 3 steps lowers the loss
    by > 0.02 (observed 0.08-0.17), 0.25 in all (observed 0.33 relu, 0.51 tanh)."""
    data = load_embedded()
    rows = np.random.default_rng(0).choice(len(data), 500, replace=False)
    X, Y = as_float(data.X[rows], np.float64), data.y[rows]
    network = init_network(layer_sizes(784, (32, 16), 10), activation=activation, seed=0)
    state = init_state(network)
    losses = []
    for _ in range(3):
        before = loss(network, X, Y, activation)
        network, loss_sum, _ = network_epoch(
            network,
            X,
            Y,
            np.arange(500),
            500,
            0.2,
            state,
            OptimizerConfig("sgd"),
            activation=activation,
        )
        assert loss_sum / 500 == pytest.approx(before, rel=1e-12)
        losses.append(before)
    losses.append(loss(network, X, Y, activation))
    assert all(later < earlier - 0.02 for earlier, later in itertools.pairwise(losses)), losses
    assert losses[-1] < losses[0] - 0.25, losses
