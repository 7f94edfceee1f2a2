"""Batch normalisation (reference/batchnorm.py and its use in reference/regularized.py):
training-mode gradients by finite differences, PyTorch's BatchNorm1d and a PyTorch training loop
as a second oracle (float64), running statistics, prediction mode, containers and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mnistbench.reference import batchnorm
from mnistbench.reference.batchnorm import (
    BN_EPS,
    BatchNorm,
    RunningStats,
    check_momentum,
    init_batch_norm,
    init_running_stats,
)
from mnistbench.reference.network import Network, init_network
from mnistbench.reference.optim import OptimizerConfig
from mnistbench.reference.regularized import (
    backward,
    batch_masks,
    forward_eval,
    forward_train,
    init_regularized_state,
    loss,
    predict_proba,
    regularized_epoch,
)

SIZES_BY_DEPTH = {1: (7, 5, 3), 2: (7, 6, 4, 3)}
# Float64 against PyTorch: the same formulas, different summation orders (atol, rtol).
TORCH_TOL = (1e-12, 1e-10)


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


def _problem(activation: str, depth: int, seed: int, m: int = 9):
    """A network, a BatchNorm with gamma, beta away from 1, 0, X (m, 7), labels in 0..2."""
    rng = np.random.default_rng(seed)
    net = init_network(SIZES_BY_DEPTH[depth], activation=activation, seed=seed)
    for W, b in zip(net.weights, net.biases, strict=True):
        b += rng.normal(0.0, 0.3, b.shape)
        W[np.abs(W) < 0.02] = 0.02
    bn = BatchNorm(
        a + rng.normal(0.0, 0.3, a.shape) for a in init_batch_norm(net.sizes[1:-1], np.float64)
    )
    return net, bn, rng.normal(size=(m, 7)), rng.integers(0, 3, m)


def _numeric_grads(arrays, objective, eps=1e-6):
    out = []
    for p in arrays:
        numeric = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            saved = p[idx]
            p[idx] = saved + eps
            up = objective()
            p[idx] = saved - eps
            down = objective()
            p[idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        out.append(numeric)
    return out


@pytest.mark.parametrize("extras", ["plain", "dropout_l1_l2"])
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu"])
def test_training_mode_gradients_match_finite_differences(activation, depth, extras):
    """Every W, b, gamma, beta entry; central differences, eps 1e-6; |a - n| <= 1e-9 + 1e-6 |n|.
    Biases feeding batch norm get exactly 0 (they cancel in Z - mean)."""
    net, bn, X, Y = _problem(activation, depth, seed=3 * depth + len(activation))
    kwargs = {}
    if extras != "plain":
        masks = batch_masks(net, (0.3,) * depth, 2, 3, np.arange(9))
        kwargs = dict(masks=masks, l1=0.02, l2=0.05)
    masks = kwargs.get("masks")
    penalties = {k: v for k, v in kwargs.items() if k != "masks"}
    fwd = forward_train(net, X, activation, bn=bn, masks=masks)
    if activation == "relu":
        margin = min(np.abs(H).min() for H in fwd.H[:-1])
        assert margin > 1e-3, f"a normalised pre-activation is {margin:g} from the kink"
    grads, bn_grads = backward(net, fwd, X, Y, activation, bn=bn, **penalties)
    assert isinstance(bn_grads, BatchNorm) and bn_grads.units == bn.units
    for b in grads.biases[:-1]:
        np.testing.assert_array_equal(b, 0.0)

    def objective():
        return loss(net, X, Y, activation, bn=bn, masks=masks, **penalties)

    numeric = _numeric_grads(tuple(net) + tuple(bn), objective)
    for i, (g, n) in enumerate(zip(tuple(grads) + tuple(bn_grads), numeric, strict=True)):
        np.testing.assert_allclose(g, n, rtol=1e-6, atol=1e-9, err_msg=f"array {i}")


def test_one_layer_matches_torch_batchnorm1d(torch):
    """Three batches through BatchNorm1d(5, eps=1e-5, momentum=0.3) in train mode: outputs,
    dZ, dgamma, dbeta for a random upstream gradient, running statistics; then eval mode."""
    rng = np.random.default_rng(0)
    gamma, beta = rng.normal(1.0, 0.3, 5), rng.normal(0.0, 0.3, 5)
    layer = torch.nn.BatchNorm1d(5, eps=BN_EPS, momentum=0.3, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    running = init_running_stats(BatchNorm([gamma, beta]))
    for m in (9, 4, 17):
        Z = rng.normal(2.0, 3.0, (m, 5))
        upstream = rng.normal(size=(m, 5))
        H, stats = batchnorm.forward_train(Z, gamma, beta)
        dZ, dgamma, dbeta = batchnorm.backward(upstream, gamma, stats)
        batchnorm.update_running(running.mean[0], running.var[0], stats, m, 0.3)
        Z_t = torch.from_numpy(Z).requires_grad_(True)
        layer.zero_grad()
        H_t = layer(Z_t)
        (H_t * torch.from_numpy(upstream)).sum().backward()
        want = (H_t.detach(), Z_t.grad, layer.weight.grad, layer.bias.grad)
        for name, got, expected in zip(
            ("H", "dZ", "dgamma", "dbeta"), (H, dZ, dgamma, dbeta), want, strict=True
        ):
            np.testing.assert_allclose(got, expected.numpy(), *TORCH_TOL[::-1], err_msg=name)
        np.testing.assert_allclose(running.mean[0], layer.running_mean.numpy(), *TORCH_TOL[::-1])
        np.testing.assert_allclose(running.var[0], layer.running_var.numpy(), *TORCH_TOL[::-1])
    layer.eval()
    Z = rng.normal(2.0, 3.0, (6, 5))
    got = batchnorm.forward_eval(Z, gamma, beta, running.mean[0], running.var[0])
    np.testing.assert_allclose(got, layer(torch.from_numpy(Z)).detach().numpy(), *TORCH_TOL[::-1])


@pytest.mark.parametrize("depth", [1, 2])
def test_epoch_matches_a_torch_training_loop(torch, depth):
    """Linear -> BatchNorm1d -> Tanh per hidden layer, Linear, mean cross-entropy, torch.optim.SGD
    with momentum 0.9 over the same 3 batches (sizes 5, 5, 3): weights, gamma, beta, running
    statistics and the summed loss agree to (1e-12, 1e-10)."""
    net, bn, X, Y = _problem("tanh", depth, seed=depth, m=13)
    order = np.random.default_rng(5).permutation(13)
    layers = []
    for layer, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if layer < depth:
            norm = torch.nn.BatchNorm1d(W.shape[0], eps=BN_EPS, momentum=0.2, dtype=torch.float64)
            with torch.no_grad():
                norm.weight.copy_(torch.from_numpy(bn[2 * layer]))
                norm.bias.copy_(torch.from_numpy(bn[2 * layer + 1]))
            layers += [norm, torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    torch_loss = 0.0
    for start in range(0, 13, 5):
        rows = order[start : start + 5]
        sgd.zero_grad()
        batch_loss = torch.nn.functional.cross_entropy(
            model(torch.from_numpy(X[rows])), torch.from_numpy(Y[rows])
        )
        batch_loss.backward()
        sgd.step()
        torch_loss += batch_loss.item() * rows.size
    running = init_running_stats(bn)
    state = init_regularized_state(net, bn)
    new, new_bn, loss_sum, _ = regularized_epoch(
        net,
        X,
        Y,
        order,
        5,
        0.1,
        state,
        OptimizerConfig("momentum"),
        activation="tanh",
        bn=bn,
        running=running,
        bn_momentum=0.2,
    )
    assert loss_sum == pytest.approx(torch_loss, rel=1e-12)
    linears = [mod for mod in model if isinstance(mod, torch.nn.Linear)]
    norms = [mod for mod in model if isinstance(mod, torch.nn.BatchNorm1d)]
    want = [p.detach().numpy() for lin in linears for p in (lin.weight, lin.bias)]
    for got, expected in zip(new, want, strict=True):
        np.testing.assert_allclose(got, expected, *TORCH_TOL[::-1])
    want_bn = [p.detach().numpy() for norm in norms for p in (norm.weight, norm.bias)]
    for got, expected in zip(new_bn, want_bn, strict=True):
        np.testing.assert_allclose(got, expected, *TORCH_TOL[::-1])
    for layer, norm in enumerate(norms):
        np.testing.assert_allclose(running.mean[layer], norm.running_mean.numpy(), *TORCH_TOL[::-1])
        np.testing.assert_allclose(running.var[layer], norm.running_var.numpy(), *TORCH_TOL[::-1])
    model.eval()
    proba = torch.softmax(model(torch.from_numpy(X)), dim=1).detach().numpy()
    got = predict_proba(new, X, "tanh", bn=new_bn, running=running)
    np.testing.assert_allclose(got, proba, *TORCH_TOL[::-1])


def test_running_statistics_by_hand_and_one_row_batches():
    """momentum 0.25, a batch (m=4) with column values [1, 2, 3, 6]: mean 3, biased var 3.5,
    unbiased 14/3; running mean 0.75 and var 0.75 + 0.25 * 14/3. A one-row batch changes nothing."""
    Z = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [6.0, 4.0]])
    _, stats = batchnorm.forward_train(Z, np.ones(2), np.zeros(2))
    np.testing.assert_allclose(stats.mean, [3.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(stats.var, [3.5, 3.0], rtol=1e-15)
    mean, var = np.zeros(2), np.ones(2)
    batchnorm.update_running(mean, var, stats, 4, 0.25)
    np.testing.assert_allclose(mean, [0.75, 0.25], rtol=1e-15)
    np.testing.assert_allclose(var, [0.75 + 0.25 * 14 / 3, 0.75 + 0.25 * 4.0], rtol=1e-15)
    _, one = batchnorm.forward_train(Z[:1], np.ones(2), np.zeros(2))
    batchnorm.update_running(mean, var, one, 1, 0.25)
    np.testing.assert_allclose(mean, [0.75, 0.25], rtol=0)
    # A single row normalises to beta in training.
    H, _ = batchnorm.forward_train(Z[:1], np.full(2, 3.0), np.array([0.5, -0.5]))
    np.testing.assert_array_equal(H, [[0.5, -0.5]])


def test_prediction_uses_running_statistics_not_the_batch():
    net, bn, X, _ = _problem("relu", 2, seed=8)
    running = RunningStats(
        tuple(np.linspace(-0.5, 0.5, u) for u in bn.units),
        tuple(np.linspace(0.5, 2.0, u) for u in bn.units),
    )
    fwd = forward_eval(net, X, "relu", bn=bn, running=running)
    Z = X @ net[0].T + net[1]
    want_H = bn[0] * (Z - running.mean[0]) / np.sqrt(running.var[0] + 1e-5) + bn[1]
    np.testing.assert_allclose(fwd.H[0], want_H, rtol=1e-14, atol=1e-15)
    # Row by row, prediction gives the same answer: no batch statistics involved.
    rowwise = np.vstack(
        [predict_proba(net, X[i : i + 1], "relu", bn=bn, running=running) for i in range(9)]
    )
    np.testing.assert_allclose(rowwise, fwd.A[-1], rtol=1e-14, atol=1e-15)
    train = forward_train(net, X, "relu", bn=bn)
    assert np.abs(train.A[-1] - fwd.A[-1]).max() > 1e-3


def test_containers_initial_values_and_bad_input():
    bn = init_batch_norm((6, 4), np.float32)
    assert bn.units == (6, 4) and bn.dtype == np.float32
    assert repr(bn) == "BatchNorm(units=(6, 4), dtype=float32)"
    assert all(np.array_equal(g, np.ones(u)) for g, u in zip(bn.gammas, (6, 4), strict=True))
    assert all(np.array_equal(b, np.zeros(u)) for b, u in zip(bn.betas, (6, 4), strict=True))
    running = init_running_stats(bn)
    assert all(a.dtype == np.float32 for a in running.mean + running.var)
    np.testing.assert_array_equal(running.var[1], 1.0)
    copied = running.copy()
    copied.mean[0][0] = 5.0
    assert running.mean[0][0] == 0.0
    with pytest.raises(ValueError, match="got 3"):
        BatchNorm([np.ones(2)] * 3)
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        BatchNorm([np.ones(3), np.ones(2)])
    with pytest.raises(TypeError, match="float64"):
        BatchNorm([np.ones(3, np.float32), np.ones(3)])
    net = init_network((7, 6, 4, 3), seed=0)
    with pytest.raises(TypeError, match="float32"):
        forward_train(net, np.zeros((2, 7)), bn=bn)
    with pytest.raises(TypeError, match="RunningStats"):
        forward_eval(net, np.zeros((2, 7)), bn=init_batch_norm((6, 4), np.float64))
    with pytest.raises(TypeError, match="BatchNorm"):
        forward_train(net, np.zeros((2, 7)), bn=Network(tuple(net)))


@pytest.mark.parametrize("momentum", [0.0, 1.0, -0.1, 1.5, float("nan"), float("inf")])
def test_momentum_outside_the_open_unit_interval_is_rejected(momentum):
    with pytest.raises(ValueError, match=re.escape(repr(momentum))):
        check_momentum(momentum)
    assert check_momentum(0.1) == 0.1
    with pytest.raises(TypeError, match="'0.1'"):
        check_momentum("0.1")
