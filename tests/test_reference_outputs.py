"""The reference's logistic (multilabel) output layer (reference/outputs.py, network.py).

Gradients by finite differences, the loss against scikit-learn's ``binary_log_loss``, the
indicator predictions, bad targets refused, and a multilabel epoch that learns.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.neural_network._base import binary_log_loss

from mnistbench.reference.network import (
    Network,
    backward,
    forward,
    init_network,
    loss,
    network_epoch,
    predict,
    predict_proba,
)
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.outputs import (
    check_targets,
    correct_count,
    output_loss,
    probabilities,
)


def _multilabel_problem(activation: str, depth: int, seed: int):
    """A network (7 -> hidden -> 4) with non-zero biases, X (6, 7), a (6, 4) 0/1 Y."""
    rng = np.random.default_rng(seed)
    sizes = (7, *([5] * depth), 4)
    network = init_network(sizes, activation=activation, seed=seed)
    for b in network.biases:
        b += rng.normal(0.0, 0.3, b.shape)
    X = rng.normal(size=(6, 7))
    Y = rng.integers(0, 2, (6, 4))
    return network, X, Y


@pytest.mark.parametrize("l2", [0.0, 0.05], ids=["no_l2", "l2"])
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("activation", ["tanh", "logistic", "gelu"])
def test_logistic_output_backward_matches_finite_differences(activation, depth, l2):
    """Every entry of every array; central differences, eps 1e-6; |a - n| <= 1e-9 + 1e-6 |n|."""
    network, X, Y = _multilabel_problem(activation, depth, seed=3 * depth + len(activation))
    fwd = forward(network, X, activation, "logistic")
    grads = backward(network, fwd, X, Y, activation, l2, "logistic")
    assert isinstance(grads, Network) and grads.sizes == network.sizes
    eps = 1e-6
    for i, (p, g) in enumerate(zip(network, grads, strict=True)):
        numeric = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            saved = p[idx]
            p[idx] = saved + eps
            up = loss(network, X, Y, activation, l2, "logistic")
            p[idx] = saved - eps
            down = loss(network, X, Y, activation, l2, "logistic")
            p[idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9, err_msg=f"array {i}")


def test_binary_cross_entropy_is_scikit_learns_and_stable_for_large_logits():
    rng = np.random.default_rng(0)
    Z = rng.normal(0, 3, (9, 5))
    Y = rng.integers(0, 2, (9, 5))
    expected = binary_log_loss(Y, probabilities(Z, "logistic"))
    np.testing.assert_allclose(output_loss(Z, Y, "logistic"), expected, rtol=1e-12)
    # Logits of +-800: exp overflows, the logit form does not; a wrong sign costs |z| each.
    big = np.array([[800.0, -800.0]])
    assert output_loss(big, np.array([[1, 0]]), "logistic") == 0.0
    np.testing.assert_allclose(output_loss(big, np.array([[0, 1]]), "logistic"), 1600.0)
    P = probabilities(big.astype(np.float32), "logistic")
    assert P.dtype == np.float32 and P.tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logistic_predictions_are_the_half_threshold_indicator(dtype):
    network, X, _ = _multilabel_problem("tanh", 1, seed=4)
    network, X = network.astype(dtype), X.astype(dtype)
    P = predict_proba(network, X, "tanh", "logistic")
    assert P.dtype == dtype and P.shape == (6, 4)
    assert not np.allclose(P.sum(axis=1), 1.0)  # independent units, not a softmax
    indicator = predict(network, X, "tanh", "logistic")
    np.testing.assert_array_equal(indicator, (P > 0.5).astype(np.int64))
    assert correct_count(P, indicator, "logistic") == 6
    assert correct_count(P, 1 - indicator, "logistic") == 0


@pytest.mark.parametrize(
    ("Y", "match"),
    [
        (np.zeros((6, 3)), r"\(6, 4\) 0/1 indicator matrix"),
        (np.zeros(6, np.int64), r"\(6, 4\) 0/1 indicator matrix"),
        (np.full((6, 4), 2), "only 0 and 1"),
    ],
    ids=["columns", "labels", "values"],
)
def test_bad_multilabel_targets_are_refused(Y, match):
    with pytest.raises(ValueError, match=match):
        check_targets(Y, 6, 4, "logistic")
    network, X, _ = _multilabel_problem("tanh", 1, seed=1)
    with pytest.raises(ValueError, match=match):
        loss(network, X, Y, "tanh", 0.0, "logistic")
    with pytest.raises(ValueError, match="output must be one of"):
        forward(network, X, "tanh", "sigmoid")


def test_multilabel_epochs_learn_a_multilabel_problem():
    X, Y = make_multilabel_classification(n_samples=80, n_features=10, random_state=0)
    X = X / X.max()
    network = init_network((10, 20, Y.shape[1]), activation="tanh", seed=0)
    optimizer = OptimizerConfig("adam")
    state = init_state(network)
    order = np.arange(80)
    first = None
    for _ in range(150):
        network, loss_sum, _ = network_epoch(
            network, X, Y, order, 20, 0.01, state, optimizer, 0.0, "tanh", "logistic"
        )
        first = loss_sum / 80 if first is None else first
    assert loss_sum / 80 < 0.5 * first
    # Rows with every one of 5 labels right: 42 of 80 measured; the commonest row gets 13.
    _, counts = np.unique(Y, axis=0, return_counts=True)
    assert counts.max() <= 15
    assert correct_count(predict_proba(network, X, "tanh", "logistic"), Y, "logistic") >= 35
