"""The estimator on any layer stack: engine dispatch, engines agreeing, model files, accuracy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from conftest import TRAJECTORY_TOL
from mnistbench import MLPClassifier
from mnistbench.estimator.engines import SEED_KERNEL_MAX_HIDDEN, seed_layout
from mnistbench.kernels.training import EpochRunner
from mnistbench.reference.data import load_embedded, train_dev_split
from mnistbench.reference.network import Network


@pytest.fixture(scope="module")
def digits():
    data = load_embedded()
    return train_dev_split(data.X, data.y, dev_size=1000, seed=0)


def _fit(X, y, **settings) -> MLPClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(**{"random_state": 0, **settings}).fit(X, y)


@pytest.mark.parametrize(
    ("hidden", "activation", "extra", "seed_kernels"),
    [
        ((10,), "relu", {}, True),
        ((SEED_KERNEL_MAX_HIDDEN,), "relu", {}, True),
        ((SEED_KERNEL_MAX_HIDDEN + 1,), "relu", {}, False),
        ((10,), "tanh", {}, False),
        ((16, 8), "relu", {}, False),
        ((10,), "relu", {"l1": 1e-4}, False),  # regularised: the layer stack at any shape
    ],
)
def test_seed_kernels_serve_narrow_relu_nets_and_the_layer_stack_the_rest(
    digits, monkeypatch, hidden, activation, extra, seed_kernels
):
    """The weights are a Network whatever the shape; only the Numba engine's seed_layout
    decides which kernels train them (seen here by the seed runners it binds)."""
    X, y, _, _ = digits
    bound = []
    from_checked = EpochRunner.from_checked

    def recording(*args):
        bound.append(args[0].hidden)
        return from_checked(*args)

    monkeypatch.setattr(EpochRunner, "from_checked", recording)
    model = _fit(
        X[:200], y[:200], hidden_layer_sizes=hidden, activation=activation, max_iter=1, **extra
    )
    assert type(model.params_) is Network and model.batch_norm_state_ is None
    assert model.coefs_[0].shape == (784, hidden[0])
    assert bound == ([hidden[0]] if seed_kernels else [])
    layout = seed_layout(model.params_, activation, model._layer_stack)
    assert (layout is not None) == seed_kernels


@pytest.mark.parametrize(
    ("hidden", "activation", "solver"),
    [
        ((48,), "relu", "adam"),
        ((24, 12), "tanh", "sgd"),
        ((16, 12, 8), "logistic", "adam"),
        ((20, 10), "gelu", "adam"),
        ((20,), "leaky_relu", "sgd"),
        ((16, 8), "relu", "lbfgs"),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numba_and_numpy_engines_train_the_same_layer_stack(
    digits, hidden, activation, solver, dtype
):
    X, y, X_dev, _ = digits
    settings = dict(
        hidden_layer_sizes=hidden,
        activation=activation,
        solver=solver,
        batch_size=50,
        max_iter=3,
        dtype=dtype,
        learning_rate_init=1e-2,
    )
    numba = _fit(X[:600], y[:600], engine="numba", **settings)
    numpy = _fit(X[:600], y[:600], engine="numpy", **settings)
    atol, rtol = TRAJECTORY_TOL[np.dtype(dtype)]
    np.testing.assert_allclose(numba.loss_curve_, numpy.loss_curve_, atol=atol, rtol=rtol)
    for a, b in zip(
        numba.coefs_ + numba.intercepts_, numpy.coefs_ + numpy.intercepts_, strict=True
    ):
        np.testing.assert_allclose(a, b, atol=atol, rtol=rtol)
    np.testing.assert_allclose(
        numba.predict_proba(X_dev[:200]), numpy.predict_proba(X_dev[:200]), atol=atol, rtol=rtol
    )


@pytest.mark.parametrize(("hidden", "activation"), [((40, 20), "tanh"), ((64,), "relu")])
def test_layer_stack_model_file_round_trip(digits, tmp_path, hidden, activation):
    X, y, X_dev, _ = digits
    model = _fit(X[:300], y[:300], hidden_layer_sizes=hidden, activation=activation, max_iter=2)
    path = model.save(tmp_path / "deep.npz")
    loaded = MLPClassifier.load(path)
    assert type(loaded.params_) is type(model.params_)
    assert loaded.hidden_layer_sizes == hidden and loaded.activation == activation
    np.testing.assert_array_equal(loaded.predict_proba(X_dev), model.predict_proba(X_dev))


def test_two_hidden_layers_reach_a_floor_on_real_digits(digits):
    # (256, 128) relu, He init, Adam: 94.4-95.4% dev for random_state 0-3 (under 1 s each).
    X, y, X_dev, y_dev = digits
    model = _fit(
        X,
        y,
        hidden_layer_sizes=(256, 128),
        batch_size=64,
        max_iter=15,
        learning_rate_init=2e-3,
        lr_schedule="cosine",
        dtype="float32",
    )
    assert model.score(X_dev, y_dev) >= 0.93
