"""Optimizers and schedules: hand-computed values, then every option kernel vs reference.

The tiny case: params p0 = [1, -2], gradient g1 = [0.5, -1] at step 1 and g2 = [0.1, 0.2] at
step 2, learning rate 0.1. The expected numbers are worked out in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TRAJECTORY_TOL, assert_close, assert_params_close, digit_like, params_for
from mnistbench.kernels import _jit_seed
from mnistbench.kernels import training as kernel_training
from mnistbench.reference import training as ref_training
from mnistbench.reference.model import Params
from mnistbench.reference.optim import (
    OptimizerConfig,
    OptimizerState,
    init_state,
    learning_rate_at,
    optimizer_step,
)
from mnistbench.reference.training import TrainConfig

P0 = np.array([1.0, -2.0])
G1 = np.array([0.5, -1.0])
G2 = np.array([0.1, 0.2])
LR = 0.1

# momentum (mu = 0.9, PyTorch form v = mu v + g; p -= lr v):
#   v1 = g1 = [0.5, -1]              p1 = [1 - 0.05, -2 + 0.1]        = [0.95, -1.9]
#   v2 = 0.9 v1 + g2 = [0.55, -0.7]  p2 = [0.95 - 0.055, -1.9 + 0.07] = [0.895, -1.83]
MOMENTUM_P = ([0.95, -1.9], [0.895, -1.83])
MOMENTUM_V = ([0.5, -1.0], [0.55, -0.7])

# adam (b1 = 0.9, b2 = 0.999, eps = 1e-8):
#   t=1: m = 0.1 g1 = [0.05, -0.1], v = 0.001 g1^2 = [0.00025, 0.001]
#        m_hat = m / 0.1 = [0.5, -1], v_hat = v / 0.001 = [0.25, 1], sqrt = [0.5, 1]
#        p1 = [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 * 1 / (1 + 1e-8)]
#           = [0.900000002, -1.900000001]
#   t=2: m = 0.9 m + 0.1 g2 = [0.055, -0.07], v = 0.999 v + 0.001 g2^2 = [0.00025975, 0.001039]
#        m_hat = m / 0.19 = [0.2894736842, -0.3684210526]
#        v_hat = v / 0.001999 = [0.1299399700, 0.5197598799], sqrt = [0.3604718714, 0.7209437426]
#        p2 = p1 - 0.1 * m_hat / (sqrt + eps) = [0.8196959064, -1.8488973940]
ADAM_P = ([0.900000002, -1.900000001], [0.8196959063846516, -1.8488973939904945])
ADAM_M = ([0.05, -0.1], [0.055, -0.07])
ADAM_V = ([0.00025, 0.001], [0.00025975, 0.001039])


def _tiny_params() -> Params:
    """The same 2-element values in every slot (W1, W2 as 1 x 2), to check all four updates."""
    return Params(P0[None].copy(), P0.copy(), P0[None].copy(), P0.copy())


def _as_params(values: np.ndarray) -> Params:
    return Params(values[None], values, values[None], values)


def _reference_steps(name: str):
    config = OptimizerConfig(name)
    params = _tiny_params()
    state = init_state(params)
    for g in (G1, G2):
        params = optimizer_step(params, _as_params(g), state, LR, config)
        yield params, state


def _kernel_steps(name: str):
    config = OptimizerConfig(name)
    p, m, v = P0.copy(), np.zeros(2), np.zeros(2)
    for t, g in enumerate((G1, G2), start=1):
        _jit_seed.optimizer_update(
            p,
            g,
            m,
            v,
            LR,
            config.code,
            config.momentum,
            config.beta1,
            config.beta2,
            config.eps,
            t,
        )
        yield p.copy(), m.copy(), v.copy()


@pytest.mark.parametrize(
    ("name", "want_p", "want_first", "want_second"),
    [
        ("sgd", ([0.95, -1.9], [0.94, -1.92]), ([0, 0], [0, 0]), ([0, 0], [0, 0])),
        ("momentum", MOMENTUM_P, MOMENTUM_V, ([0, 0], [0, 0])),
        ("adam", ADAM_P, ADAM_M, ADAM_V),
    ],
)
def test_reference_optimizer_matches_hand_computed_two_steps(name, want_p, want_first, want_second):
    for step, (params, state) in enumerate(_reference_steps(name)):
        assert state.t == step + 1
        for slot in range(4):
            got = np.ravel(params[slot])
            np.testing.assert_allclose(got, want_p[step], rtol=0, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(np.ravel(state.first[slot]), want_first[step], atol=1e-15)
            np.testing.assert_allclose(np.ravel(state.second[slot]), want_second[step], atol=1e-15)


@pytest.mark.parametrize(
    ("name", "want_p", "want_first", "want_second"),
    [
        ("sgd", ([0.95, -1.9], [0.94, -1.92]), ([0, 0], [0, 0]), ([0, 0], [0, 0])),
        ("momentum", MOMENTUM_P, MOMENTUM_V, ([0, 0], [0, 0])),
        ("adam", ADAM_P, ADAM_M, ADAM_V),
    ],
)
def test_kernel_optimizer_matches_hand_computed_two_steps(name, want_p, want_first, want_second):
    for step, (p, m, v) in enumerate(_kernel_steps(name)):
        np.testing.assert_allclose(p, want_p[step], rtol=0, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(m, want_first[step], atol=1e-15)
        np.testing.assert_allclose(v, want_second[step], atol=1e-15)


def test_adam_first_step_moves_each_weight_by_about_the_learning_rate():
    # Bias correction makes the first step lr * g / (|g| + eps): about lr while |g| >> eps.
    config = OptimizerConfig("adam")
    for scale in (1e-3, 1.0, 1e3):
        params = optimizer_step(
            _tiny_params(), _as_params(scale * G1), init_state(_tiny_params()), LR, config
        )
        np.testing.assert_allclose(np.ravel(params.b1) - P0, [-LR, LR], rtol=1e-4)


@pytest.mark.parametrize(
    ("schedule", "epochs", "want"),
    [
        ("constant", 4, [0.1, 0.1, 0.1, 0.1]),
        # step: halve every epochs // 4 = 2 epochs
        ("step", 8, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125]),
        # step with fewer than 4 epochs: halve every epoch
        ("step", 3, [0.1, 0.05, 0.025]),
        # cosine: 0.05 * (1 + cos(pi * e / 4)) = 0.1, 0.0853553391, 0.05, 0.0146446609
        ("cosine", 4, [0.1, 0.08535533905932738, 0.05, 0.014644660940672627]),
    ],
)
def test_learning_rate_schedule_at_each_epoch(schedule, epochs, want):
    got = [learning_rate_at(e, 0.1, schedule, epochs) for e in range(epochs)]
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        learning_rate_at(0, 0.1, "linear", 4)


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_training_loop_uses_the_scheduled_rate_each_epoch(schedule):
    seen = []

    def epoch_fn(params, order, batch_size, learning_rate, state):
        seen.append(learning_rate)
        return params, 1.0 * order.size, 0

    config = TrainConfig(epochs=8, learning_rate=0.2, lr_schedule=schedule)
    params = params_for(np.float64, hidden=2)
    ref_training.fit(epoch_fn, lambda p, X: X, 5, params, config, OptimizerConfig())
    np.testing.assert_allclose(seen, [learning_rate_at(e, 0.2, schedule, 8) for e in range(8)])


OPTIMIZER_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 0.005}
M = 50


@pytest.fixture(scope="module")
def small_data():
    return digit_like(M, seed=3)


@pytest.mark.parametrize("batch_size", [1, 7, None], ids=["batch1", "batch7", "full"])
@pytest.mark.parametrize("l2", [0.0, 1e-3], ids=["no_l2", "l2"])
@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_kernel_train_matches_reference_for_each_option(
    small_data, dtype, optimizer, schedule, l2, batch_size
):
    """Three epochs (150 updates at batch size 1), same batches: params and history agree.

    Tolerance: conftest's TRAJECTORY_TOL, float64 (1e-10, 1e-8), float32 (2e-4, 2e-3).
    """
    X, Y = small_data
    config = TrainConfig(
        hidden=8,
        batch_size=batch_size,
        epochs=3,
        optimizer=optimizer,
        learning_rate=OPTIMIZER_LR[optimizer],
        lr_schedule=schedule,
        l2=l2,
        seed=5,
        dtype=dtype.name,
    )
    got, got_history = kernel_training.train(X, Y, config, X_dev=X[:20], Y_dev=Y[:20])
    want, want_history = ref_training.train(X, Y, config, X_dev=X[:20], Y_dev=Y[:20])
    assert_params_close(got, want, dtype, TRAJECTORY_TOL)
    assert got_history.step == want_history.step == [0, 1, 2]
    assert_close(got_history.loss, want_history.loss, dtype, TRAJECTORY_TOL)
    assert got_history.train_accuracy == want_history.train_accuracy
    assert got_history.dev_accuracy == want_history.dev_accuracy


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_optimizer_state_handed_between_engines_continues_identically(small_data, optimizer):
    """One OptimizerState serves both sides: epoch 1 on the kernel, epoch 2 on the reference."""
    X, Y = small_data
    X_float = ref_training.as_float(X, np.float64)
    config = OptimizerConfig(optimizer)
    order = np.random.default_rng(0).permutation(M)
    lr = OPTIMIZER_LR[optimizer]

    params = params_for(np.float64, hidden=8)
    state = init_state(params)
    params, _, _ = kernel_training.minibatch_epoch(params, X, Y, order, 7, lr, state, config)
    mixed, _, _ = ref_training.minibatch_epoch(params, X_float, Y, order, 7, lr, state, config)

    params = params_for(np.float64, hidden=8)
    state2 = init_state(params)
    for _ in range(2):
        params, _, _ = ref_training.minibatch_epoch(
            params, X_float, Y, order, 7, lr, state2, config
        )
    assert state.t == state2.t == 2 * 8
    assert_params_close(mixed, params, np.float64, TRAJECTORY_TOL)
    assert isinstance(state, OptimizerState)
