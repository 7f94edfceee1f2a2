"""The PyTorch anchor is the loop people write, and it computes what the reference computes."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TRAJECTORY_TOL, digit_like
from mnistbench.reference.network import init_network, network_epoch, predict
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.training import as_float

torch = pytest.importorskip("torch")
from mnistbench.torch_engine import training_loop  # noqa: E402


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize(
    ("sizes", "activation"),
    [((784, 16, 10), "relu"), ((784, 24, 12, 10), "tanh"), ((784, 8, 8, 10), "gelu")],
)
def test_sequential_loop_matches_reference_epoch(sizes, activation, optimizer):
    X, Y = digit_like(300, seed=3)
    net = init_network(sizes, activation=activation, seed=1, dtype=np.float64)
    order = np.random.default_rng(2).permutation(300)
    lr = 0.05 if optimizer == "sgd" else 1e-3
    epoch = training_loop(net, X, Y, activation=activation, optimizer=optimizer, learning_rate=lr)
    torch_loss = epoch(order, 64)
    want, loss_sum, _ = network_epoch(
        net,
        as_float(X, np.float64),
        Y,
        order,
        64,
        lr,
        init_state(net),
        OptimizerConfig(optimizer),
        activation=activation,
    )
    atol, rtol = TRAJECTORY_TOL[np.dtype(np.float64)]
    np.testing.assert_allclose(torch_loss, loss_sum / 300, atol=atol, rtol=rtol)
    got = [p.detach().numpy() for p in epoch.model.parameters()]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-9, rtol=1e-7)
    want_labels = predict(want, as_float(X, np.float64), activation)
    np.testing.assert_array_equal(epoch.predict(X), want_labels)
