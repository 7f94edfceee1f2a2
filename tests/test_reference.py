"""The NumPy oracle itself: gradients by finite differences, stable softmax and loss, seed API."""

from __future__ import annotations

import numpy as np
import pytest

from mnistbench.reference import model as ref
from mnistbench.reference.model import Params


def _loss_of(params: Params, X, Y, l2: float = 0.0) -> float:
    return ref.loss(ref.forward_prop(params, X).Z2, Y) + ref.l2_penalty(params, l2)


@pytest.mark.parametrize("hidden", [10, 32])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_backward_matches_finite_differences(hidden, l2):
    rng = np.random.default_rng(hidden)
    m, n_in = 6, 784
    X = rng.random((m, n_in))
    Y = rng.integers(0, 10, m)
    params = ref.init_params(hidden, n_in, seed=hidden)
    params = Params(0.1 * params.W1, params.b1, params.W2, params.b2)
    grads = ref.backward_prop(params, ref.forward_prop(params, X), X, Y, l2)
    eps = 1e-6
    for name, p, g in zip(Params._fields, params, grads, strict=True):
        # Every entry of b1, W2, b2; 300 random entries of W1 (plus its first and last).
        indices = list(np.ndindex(p.shape))
        if p.size > 1000:
            picked = rng.choice(len(indices), 300, replace=False)
            indices = [indices[0], indices[-1]] + [indices[i] for i in picked]
        analytic, numeric = [], []
        for idx in indices:
            saved = p[idx]
            p[idx] = saved + eps
            up = _loss_of(params, X, Y, l2)
            p[idx] = saved - eps
            down = _loss_of(params, X, Y, l2)
            p[idx] = saved
            numeric.append((up - down) / (2 * eps))
            analytic.append(g[idx])
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_bias_gradients_are_per_unit_means_not_the_seeds_total():
    rng = np.random.default_rng(3)
    X = rng.random((50, 784))
    Y = rng.integers(0, 10, 50)
    params = ref.init_params(10, seed=3)
    acts = ref.forward_prop(params, X)
    grads = ref.backward_prop(params, acts, X, Y)
    dZ2 = acts.A2 - ref.one_hot(Y)
    np.testing.assert_allclose(grads.b2, dZ2.mean(axis=0), rtol=1e-12, atol=1e-15)
    seed_db2 = dZ2.sum() / 50  # the notebook's scalar: one value for every unit
    assert abs(seed_db2) < 1e-12  # softmax rows sum to 1, so the seed's db2 is always ~0
    assert np.ptp(grads.b2) > 1e-3  # the correct gradient differs per unit


def test_softmax_is_stable_for_large_logits():
    Z = np.array([[1000.0, 999.0, -1000.0], [1e3, 1e3, 1e3]])
    A = ref.softmax(Z)
    assert np.isfinite(A).all()
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-15)
    e = np.exp([1.0, 0.0])
    np.testing.assert_allclose(A[0, :2], e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(A[1], 1 / 3, rtol=1e-12)
    np.testing.assert_allclose(ref.softmax(Z.astype(np.float32)), A, rtol=1e-6)


def test_loss_agrees_with_direct_formula_and_survives_large_logits():
    rng = np.random.default_rng(4)
    Z = rng.normal(size=(7, 10))
    Y = rng.integers(0, 10, 7)
    direct = -np.mean(np.log(np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True))[np.arange(7), Y])
    assert ref.loss(Z, Y) == pytest.approx(direct, rel=1e-12)
    # Logits where log(softmax) would underflow to log(0): log-sum-exp gives the exact value.
    Z_big = np.array([[1000.0, 0.0]])
    assert ref.loss(Z_big, np.array([1])) == pytest.approx(1000.0, rel=1e-12)


def test_init_params_is_seed_compatible_and_reproducible():
    p = ref.init_params(16, seed=7, dtype=np.float32)
    assert [a.shape for a in p] == [(16, 784), (16,), (10, 16), (10,)]
    assert all(a.dtype == np.float32 for a in p)
    assert all(a.min() >= -0.5 and a.max() < 0.5 for a in p)
    assert 0.45 < p.W1.max() and p.W1.min() < -0.45  # the seed's full uniform range
    q = ref.init_params(16, seed=7, dtype=np.float32)
    assert all(np.array_equal(a, b) for a, b in zip(p, q, strict=True))


def test_forward_follows_input_dtype(dtype):
    X = np.random.default_rng(5).random((3, 784)).astype(dtype)
    acts = ref.forward_prop(ref.init_params(seed=5, dtype=dtype), X)
    assert all(a.dtype == dtype for a in acts)
    np.testing.assert_allclose(acts.A2.sum(axis=1), 1, rtol=1e-5)


def test_relu_one_hot_predictions_accuracy():
    Z = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(ref.ReLU(Z), [[0, 0, 2]])
    np.testing.assert_array_equal(ref.ReLU_deriv(Z), [[0, 0, 1]])
    np.testing.assert_array_equal(ref.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    assert ref.get_accuracy(ref.get_predictions(np.array([[0.1, 0.9], [0.8, 0.2]])), [1, 1]) == 0.5


def test_update_params_returns_new_arrays():
    p = ref.init_params(4, n_in=3, seed=0)
    g = Params(*(np.ones_like(a) for a in p))
    new = ref.update_params(p, g, 0.5)
    for a, b in zip(new, p, strict=True):
        np.testing.assert_allclose(a, b - 0.5)
