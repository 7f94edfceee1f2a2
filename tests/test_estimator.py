"""MLPClassifier: accuracy reached on real digits, engine agreement, persistence, partial_fit.

Accuracy bounds leave room below what was measured over seeds (see each test's docstring), so
a correct implementation passes for any seed; they are floors, not timings.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from conftest import TRAJECTORY_TOL, assert_params_close, digit_like
from mnistbench.estimator import MLPClassifier
from mnistbench.kernels import training as kernel_training
from mnistbench.reference import data
from mnistbench.reference import training as ref_training
from mnistbench.reference.training import TrainConfig, TrainingDiverged


@pytest.fixture(scope="module")
def digits():
    """The embedded 5,000 real MNIST digits: 4,000 train / 1,000 dev (train_dev_split, seed 0)."""
    dataset = data.load_embedded()
    return data.train_dev_split(dataset.X, dataset.y, dev_size=1000, seed=0)


@pytest.fixture(scope="module")
def small():
    X, y = digit_like(300, seed=11)
    return X, y


def test_seed_network_full_batch_reaches_78_percent_dev(digits):
    """Hidden 10, full-batch gradient descent, 500 iterations at 0.1 (the seed's run).

    Measured dev accuracy 0.836-0.855 over seeds 0-4 (mean ~0.845); floor 0.78.
    """
    X, y, X_dev, y_dev = digits
    model = MLPClassifier(seed=3, log_interval=100).fit(X, y, X_dev, y_dev)
    assert model.score(X_dev, y_dev) >= 0.78
    assert model.history_.dev_accuracy[-1] == model.score(X_dev, y_dev)
    assert model.n_iter_ == 500
    assert model.history_.loss[-1] < model.history_.loss[0] / 3


ADAM_128 = dict(
    hidden=128, batch_size=64, epochs=20, optimizer="adam", learning_rate=0.01,
    lr_schedule="cosine", l2=5e-3,
)  # fmt: skip


def test_minibatch_adam_hidden_128_reaches_91_percent_dev(digits):
    """Adam, batch 64, 20 epochs, lr 0.01 cosine, L2 5e-3: about 1.5 s.

    Measured 0.938-0.940 over seeds 0-4; scikit-learn's MLPClassifier(128) reaches
    0.932-0.937 on the same kind of split. Floor 0.91.
    """
    X, y, X_dev, y_dev = digits
    model = MLPClassifier(**ADAM_128, seed=1, log_interval=20).fit(X, y)
    assert model.score(X_dev, y_dev) >= 0.91


FASHION_128 = dict(
    hidden=128, batch_size=128, epochs=10, optimizer="adam", learning_rate=5e-3,
    lr_schedule="cosine",
)  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(not data.fashion_mnist_available(), reason="Fashion-MNIST not installed")
def test_fashion_mnist_hidden_128_reaches_87_percent_test_in_10_epochs():
    """60,000 training images, 10 epochs, accuracy on the official 10,000 test images.

    Measured 0.88 (about 12 s on 2 cores); scikit-learn's MLPClassifier(128) reaches 0.889
    after 30 epochs (22 s). Floor 0.87.
    """
    train, test = data.load_fashion_mnist("train"), data.load_fashion_mnist("test")
    model = MLPClassifier(**FASHION_128, seed=0, log_interval=10).fit(train.X, train.y)
    assert model.score(test.X, test.y) >= 0.87


ENGINE_CONFIGS = {
    "full_batch_sgd": dict(hidden=16, epochs=5, learning_rate=0.1),
    "minibatch_adam": dict(hidden=16, batch_size=32, epochs=3, optimizer="adam",
                           learning_rate=3e-3, lr_schedule="cosine", l2=1e-3),
    "minibatch_momentum": dict(hidden=16, batch_size=7, epochs=2, optimizer="momentum",
                               learning_rate=0.02, lr_schedule="step"),
}  # fmt: skip


@pytest.mark.parametrize("config", list(ENGINE_CONFIGS))
def test_numba_and_numpy_engines_agree(small, dtype, config):
    """Same config on both engines: params and losses within conftest's TRAJECTORY_TOL.

    float64 (atol 1e-10, rtol 1e-8); float32 (atol 2e-4, rtol 2e-3).
    """
    X, y = small
    settings = dict(**ENGINE_CONFIGS[config], dtype=dtype.name, seed=4)
    fast = MLPClassifier(**settings, engine="numba").fit(X[:250], y[:250], X[250:], y[250:])
    slow = MLPClassifier(**settings, engine="numpy").fit(X[:250], y[:250], X[250:], y[250:])
    assert_params_close(fast.params_, slow.params_, dtype, TRAJECTORY_TOL)
    atol, rtol = TRAJECTORY_TOL[dtype]
    np.testing.assert_allclose(fast.history_.loss, slow.history_.loss, atol=atol, rtol=rtol)
    assert fast.history_.step == slow.history_.step
    np.testing.assert_allclose(
        fast.predict_proba(X), slow.predict_proba(X), atol=10 * atol, rtol=10 * rtol
    )


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_fit_is_exactly_the_engines_train(small, engine):
    """The estimator adds no arithmetic: bit-identical to kernels/reference ``train``."""
    X, y = small
    config = TrainConfig(hidden=12, batch_size=25, epochs=3, optimizer="adam",
                         learning_rate=0.01, seed=9)  # fmt: skip
    train = kernel_training.train if engine == "numba" else ref_training.train
    params, history = train(X, y, config)
    model = MLPClassifier(
        **{k: getattr(config, k) for k in MLPClassifier._PARAM_NAMES if hasattr(config, k)},
        engine=engine,
    ).fit(X, y)
    for got, want in zip(model.params_, params, strict=True):
        np.testing.assert_array_equal(got, want)
    assert model.history_.loss == history.loss


def test_uint8_and_unit_floats_give_the_same_model(small):
    X, y = small
    kwargs = dict(hidden=8, batch_size=50, epochs=2, optimizer="momentum", learning_rate=0.05)
    from_pixels = MLPClassifier(**kwargs).fit(X, y)
    from_floats = MLPClassifier(**kwargs).fit(X / 255.0, y)
    assert_params_close(from_pixels.params_, from_floats.params_, np.float64, TRAJECTORY_TOL)
    np.testing.assert_array_equal(from_pixels.predict(X), from_floats.predict(X / 255.0))


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_save_load_round_trip_gives_identical_predictions(small, tmp_path, dtype_name):
    X, y = small
    model = MLPClassifier(hidden=12, batch_size=30, epochs=3, optimizer="adam",
                          learning_rate=3e-3, dtype=dtype_name, seed=5).fit(X, y)  # fmt: skip
    path = model.save(tmp_path / "model.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    loaded = MLPClassifier.load(path)
    for got, want in zip(loaded.params_, model.params_, strict=True):
        assert got.dtype == np.dtype(dtype_name)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.get_params() == {**model.get_params(), "callback": None}
    assert loaded.history_.loss == model.history_.loss
    assert loaded.n_iter_ == 3 and loaded.score(X, y) == model.score(X, y)


def test_saved_file_carries_metadata(small, tmp_path):
    from mnistbench.model_files import FORMAT_VERSION, load_model, package_version

    X, y = small
    model = MLPClassifier(hidden=6, epochs=2, l2=1e-3).fit(X, y)
    path = model.save(tmp_path / "m.npz")
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    _, metadata = load_model(path)
    assert metadata["format_version"] == FORMAT_VERSION
    assert metadata["hidden"] == 6 and metadata["dtype"] == "float64"
    assert metadata["package_version"] == package_version()
    assert metadata["estimator"]["l2"] == 1e-3 and metadata["estimator"]["epochs"] == 2


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_fit_then_partial_fit_equals_one_longer_fit(small, engine):
    """Optimizer state (Adam moments, step count) and shuffling carry over exactly."""
    X, y = small
    kwargs = dict(hidden=10, batch_size=32, optimizer="adam", learning_rate=3e-3, seed=2,
                  engine=engine)  # fmt: skip
    continued = MLPClassifier(**kwargs, epochs=3).fit(X, y).partial_fit(X, y)
    longer = MLPClassifier(**kwargs, epochs=4).fit(X, y)
    for got, want in zip(continued.params_, longer.params_, strict=True):
        np.testing.assert_array_equal(got, want)
    assert continued.history_.loss == longer.history_.loss
    assert continued.n_iter_ == 4


def test_partial_fit_from_scratch_equals_fit(small):
    X, y = small
    kwargs = dict(hidden=10, batch_size=40, epochs=3, optimizer="momentum",
                  learning_rate=0.02, lr_schedule="cosine", seed=6)  # fmt: skip
    stepwise = MLPClassifier(**kwargs)
    for _ in range(3):
        stepwise.partial_fit(X, y)
    whole = MLPClassifier(**kwargs).fit(X, y)
    for got, want in zip(stepwise.params_, whole.params_, strict=True):
        np.testing.assert_array_equal(got, want)


def test_partial_fit_keeps_lowering_the_loss(digits, tmp_path):
    X, y, _, _ = digits
    model = MLPClassifier(hidden=32, batch_size=100, epochs=1, optimizer="adam",
                          learning_rate=3e-3, seed=0).fit(X, y)  # fmt: skip
    losses = [model.log_loss(X, y)]
    for _ in range(3):
        model.partial_fit(X, y)
        losses.append(model.log_loss(X, y))
    assert all(b < a for a, b in itertools.pairwise(losses)), losses
    assert model.n_iter_ == 4 and len(model.history_) == 4
    # A loaded model continues too (with fresh optimizer state).
    loaded = MLPClassifier.load(model.save(tmp_path / "m.npz")).partial_fit(X, y)
    assert loaded.log_loss(X, y) < losses[-1]


def test_diverging_fit_raises_and_leaves_the_estimator_unfitted(small):
    X, y = small
    model = MLPClassifier(hidden=8, epochs=50, learning_rate=100.0, log_interval=5)
    with pytest.raises(TrainingDiverged, match="try a smaller learning rate") as info:
        model.fit(X, y)
    assert len(info.value.history) >= 1
    assert not hasattr(model, "params_")


def test_diverging_partial_fit_keeps_previous_weights(small):
    X, y = small
    model = MLPClassifier(hidden=8, batch_size=10, epochs=2, learning_rate=0.05).fit(X, y)
    before = model.params_.copy()
    model.set_params(learning_rate=1e4)
    with pytest.raises(TrainingDiverged, match="diverged"):
        model.partial_fit(X, y)
    for got, want in zip(model.params_, before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert model.n_iter_ == 2
    assert np.isfinite(np.concatenate([p.ravel() for p in model.params_])).all()


def test_callback_sees_every_logged_epoch(small):
    X, y = small
    seen = []
    MLPClassifier(hidden=8, epochs=7, log_interval=3, callback=lambda *a: seen.append(a)).fit(
        X[:200], y[:200], X[200:], y[200:]
    )
    assert [epoch for epoch, *_ in seen] == [0, 3, 6]
    assert all(np.isfinite(row).all() for row in seen)


def test_get_params_set_params_and_repr():
    model = MLPClassifier(hidden=64, optimizer="adam")
    assert model.get_params()["hidden"] == 64
    assert model.set_params(learning_rate=0.01) is model
    assert repr(model) == "MLPClassifier(hidden=64, optimizer='adam', learning_rate=0.01)"
    assert MLPClassifier(**model.get_params()).get_params() == model.get_params()


def test_predictions_are_labels_and_probabilities_sum_to_one(small):
    X, y = small
    model = MLPClassifier(hidden=8, epochs=5).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (300, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))
    np.testing.assert_array_equal(model.classes_, np.arange(10))
    assert model.n_features_in_ == 784 and model.fit_seconds_ > 0


def test_numpy_scalar_settings_are_accepted(small):
    X, y = small
    model = MLPClassifier(hidden=np.int64(8), epochs=np.int32(2), batch_size=np.int64(50),
                          dtype=np.float32, seed=np.int64(1)).fit(X, y)  # fmt: skip
    assert model.params_.dtype == np.float32 and model.params_.hidden == 8
    assert model.n_iter_ == 2
