"""Every Numba kernel against the NumPy reference, per dtype, input kind and batch size."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from conftest import TRAJECTORY_TOL, assert_close, assert_params_close, digit_like, params_for
from mnistbench import jax_engine, kernels
from mnistbench.bench.variants import BASELINES, FULL_BATCH, MINIBATCH
from mnistbench.kernels import parallel
from mnistbench.reference import model as ref
from mnistbench.reference import training as ref_training
from mnistbench.reference.optim import OptimizerConfig, init_state

BATCH_SIZES = [1, 7, 64, 1000]
INPUTS = ["float", "uint8"]
# Peer engines that compile a fresh step for every case (torch.compile, jax.jit; registered only
# where PyTorch / JAX are installed): ~1 s a case warm, the first 13 s, about 45 s in all from a
# cold start on 2 cores; they run under `pytest -m slow`.
COMPILED_PEERS = frozenset({"torch_compile", "jax"})


def _variants(names) -> list:
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in COMPILED_PEERS else name
        for name in sorted(names)
    ]


def _inputs(m: int, dtype, kind: str, seed: int = 0):
    """(X for the kernel, the same X as the reference sees it: float pixels / 255, labels)."""
    X8, Y = digit_like(m, seed)
    X_ref = ref_training.as_float(X8, dtype)
    return (X8 if kind == "uint8" else X_ref), X_ref, Y


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("m", BATCH_SIZES)
@pytest.mark.parametrize("hidden", [10, 32, 128])
def test_forward_prop_matches_reference(dtype, kind, m, hidden):
    X, X_ref, _ = _inputs(m, dtype, kind, seed=m)
    params = params_for(dtype, hidden, seed=hidden)
    got = kernels.forward_prop(params, X)
    want = ref.forward_prop(params, X_ref)
    for name, g, w in zip(ref.Activations._fields, got, want, strict=True):
        assert g.dtype == dtype, name
        assert_close(g, w, dtype, err_msg=name)


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("m", BATCH_SIZES)
@pytest.mark.parametrize("hidden", [10, 32, 128])
def test_backward_prop_matches_reference(dtype, kind, m, hidden):
    X, X_ref, Y = _inputs(m, dtype, kind, seed=m + 1)
    params = params_for(dtype, hidden, seed=hidden)
    acts = ref.forward_prop(params, X_ref)
    assert_params_close(
        kernels.backward_prop(params, acts, X, Y), ref.backward_prop(params, acts, X_ref, Y), dtype
    )


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("m", BATCH_SIZES)
@pytest.mark.parametrize("hidden", [10, 33, 128])
def test_fused_gradients_match_reference_backward(dtype, kind, m, hidden):
    X, X_ref, Y = _inputs(m, dtype, kind, seed=m + 2)
    params = params_for(dtype, hidden, seed=hidden)
    grads, loss_value, accuracy = kernels.fused_gradients(params, X, Y, l2=0.01)
    acts = ref.forward_prop(params, X_ref)
    assert_params_close(grads, ref.backward_prop(params, acts, X_ref, Y, 0.01), dtype)
    assert_close(loss_value, ref.loss(acts.Z2, Y), dtype)
    assert accuracy == ref.get_accuracy(ref.get_predictions(acts.A2), Y)


def test_fused_step_returns_new_params_and_keeps_input(dtype, data_1000):
    X, Y = data_1000
    params = params_for(dtype)
    before = params.copy()
    new, loss_value = kernels.fused_step(params, X, Y, 0.1)
    assert_params_close(params, before, dtype)  # untouched
    want = ref.update_params(
        params,
        ref.backward_prop(
            params,
            ref.forward_prop(params, ref_training.as_float(X, dtype)),
            ref_training.as_float(X, dtype),
            Y,
        ),
        0.1,
    )
    assert_params_close(new, want, dtype)
    assert np.isfinite(loss_value)


def test_update_params_matches_reference(dtype):
    params = params_for(dtype, 12)
    grads = params_for(dtype, 12, seed=9)
    assert_params_close(
        kernels.update_params(params, grads, 0.3), ref.update_params(params, grads, 0.3), dtype
    )


def test_predictions_match_reference(dtype, data_1000):
    X, _ = data_1000
    params = params_for(dtype)
    want = ref.make_predictions(ref_training.as_float(X, dtype), params)
    np.testing.assert_array_equal(kernels.make_predictions(X, params), want)


def _skip_unless_runs(variant: str, dtype) -> None:
    """The JAX peer computes in float32 only (JAX's default); every other variant runs both."""
    if variant == "jax" and np.dtype(dtype).name not in jax_engine.DTYPES:
        pytest.skip(f"{variant} runs {', '.join(jax_engine.DTYPES)} only")


@pytest.mark.parametrize("variant", _variants(set(FULL_BATCH) - BASELINES))
@pytest.mark.parametrize("kind", INPUTS)
def test_full_batch_trajectory_matches_reference_for_20_steps(variant, kind, dtype):
    _skip_unless_runs(variant, dtype)
    X, X_ref, Y = _inputs(600, dtype, kind, seed=11)
    params0 = params_for(dtype, 16, seed=2)
    step = FULL_BATCH[variant](params0, X, Y)
    oracle = FULL_BATCH["reference"](params0, X_ref, Y)
    params, expected = params0, params0
    losses, expected_losses = [], []
    for _ in range(20):
        params, loss_value = step(params, 0.1)
        expected, expected_loss = oracle(expected, 0.1)
        losses.append(loss_value)
        expected_losses.append(expected_loss)
    assert_close(losses, expected_losses, dtype, TRAJECTORY_TOL)
    assert expected_losses[-1] < expected_losses[0]
    assert_params_close(params, expected, dtype, TRAJECTORY_TOL)


@pytest.mark.parametrize("variant", _variants(set(MINIBATCH) - {"reference"}))
@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000])
@pytest.mark.parametrize("kind", INPUTS)
def test_minibatch_epoch_matches_reference(variant, batch_size, kind, dtype):
    _skip_unless_runs(variant, dtype)
    X, X_ref, Y = _inputs(1000, dtype, kind, seed=batch_size)
    params0 = params_for(dtype, 10, seed=4)
    order = np.random.default_rng(batch_size).permutation(1000)
    lr = 0.01 if batch_size < 64 else 0.1
    got, got_loss = MINIBATCH[variant](params0, X, Y)(params0, order, batch_size, lr)
    want, want_loss = MINIBATCH["reference"](params0, X_ref, Y)(params0, order, batch_size, lr)
    assert_close(got_loss, want_loss, dtype, TRAJECTORY_TOL)
    assert_params_close(got, want, dtype, TRAJECTORY_TOL)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_public_minibatch_epoch_advances_optimizer_state_like_reference(optimizer, dtype):
    X, X_ref, Y = _inputs(300, dtype, "uint8", seed=5)
    params0 = params_for(dtype, 8, seed=5)
    order = np.random.default_rng(0).permutation(300)
    config = OptimizerConfig(optimizer)
    state_k, state_r = init_state(params0), init_state(params0)
    got = kernels.minibatch_epoch(params0, X, Y, order, 32, 0.01, state_k, config, l2=1e-3)
    want = ref_training.minibatch_epoch(params0, X_ref, Y, order, 32, 0.01, state_r, config, 1e-3)
    assert state_k.t == state_r.t == 10
    assert_params_close(got[0], want[0], dtype, TRAJECTORY_TOL)
    assert_params_close(state_k.first, state_r.first, dtype, TRAJECTORY_TOL)
    assert_close(got[1], want[1], dtype, TRAJECTORY_TOL)
    assert got[2] == want[2]


def test_gradient_descent_history_matches_reference(dtype):
    X, _, Y = _inputs(800, dtype, "uint8", seed=6)
    X_dev, _, Y_dev = _inputs(100, dtype, "uint8", seed=7)
    got_params, got = kernels.gradient_descent(
        X, Y, 0.1, 20, hidden=10, seed=3, X_dev=X_dev, Y_dev=Y_dev, log_interval=5, dtype=dtype
    )
    want_params, want = ref_training.gradient_descent(
        X, Y, 0.1, 20, hidden=10, seed=3, X_dev=X_dev, Y_dev=Y_dev, log_interval=5, dtype=dtype
    )
    assert got.step == want.step == [0, 5, 10, 15, 19]
    assert_close(got.loss, want.loss, dtype, TRAJECTORY_TOL)
    assert_close(got.train_accuracy, want.train_accuracy, dtype, TRAJECTORY_TOL)
    assert_close(got.dev_accuracy, want.dev_accuracy, dtype, TRAJECTORY_TOL)
    assert_params_close(got_params, want_params, dtype, TRAJECTORY_TOL)


def test_same_threads_give_bit_identical_params(data_1000):
    X, Y = data_1000
    config = kernels.TrainConfig(
        hidden=12, batch_size=250, epochs=2, optimizer="adam", learning_rate=1e-3, dtype="float32"
    )
    first, _ = kernels.train(X, Y, config)
    second, _ = kernels.train(X, Y, config)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)


def test_thread_counts_agree_within_tolerance(data_1000):
    X, Y = data_1000
    config = kernels.TrainConfig(hidden=12, batch_size=500, epochs=3, learning_rate=0.1)
    available = numba.config.NUMBA_NUM_THREADS
    previous = numba.get_num_threads()
    results = []
    try:
        for n in sorted({1, min(2, available)}):
            numba.set_num_threads(n)
            results.append(kernels.train(X, Y, config)[0])
    finally:
        numba.set_num_threads(previous)
    assert_params_close(results[0], results[-1], np.float64)


def test_input_params_are_never_modified(data_1000):
    X, Y = data_1000
    params = params_for(np.float64)
    before = params.copy()
    kernels.train(X, Y, kernels.TrainConfig(epochs=2, batch_size=100), params=params)
    kernels.minibatch_epoch(params, X, Y, np.arange(1000), 100, 0.1)
    assert_params_close(params, before, np.float64)


def test_batches_split_across_threads_match_reference(dtype):
    X, X_ref, Y = _inputs(5000, dtype, "uint8", seed=12)
    params = params_for(dtype, 12, seed=12)
    expected_chunks = min(numba.get_num_threads(), 2)
    assert parallel.chunk_count(5000, 12, 8) == expected_chunks
    grads, loss_value, _ = kernels.fused_gradients(params, X, Y)
    acts = ref.forward_prop(params, X_ref)
    assert_params_close(grads, ref.backward_prop(params, acts, X_ref, Y), dtype)
    assert_close(loss_value, ref.loss(acts.Z2, Y), dtype)
    # A split full-batch run is deterministic for a given thread count.
    config = kernels.TrainConfig(hidden=12, epochs=3, dtype=dtype.name)
    first, _ = kernels.train(X, Y, config)
    second, _ = kernels.train(X, Y, config)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    want, _ = ref_training.train(X, Y, config)
    assert_params_close(first, want, dtype, TRAJECTORY_TOL)


def test_registry_steps_refuse_inputs_that_would_index_out_of_bounds(data_1000):
    X, Y = data_1000
    params = params_for(np.float32, 10)
    epoch = MINIBATCH["numba_fused"](params, X, Y)
    with pytest.raises(ValueError, match=r"order indices must be in 0\.\.999"):
        epoch(params, np.array([0, 1, 1000]), 2, 0.1)
    with pytest.raises(ValueError, match=r"batch_size must be in 1\.\.1000"):
        epoch(params, np.arange(1000), 0, 0.1)
    step = FULL_BATCH["numba_fused"](params, X, Y)
    with pytest.raises(ValueError, match="params must keep the shapes"):
        step(params_for(np.float32, 11), 0.1)


def test_optimizer_state_must_match_params(data_1000):
    X, Y = data_1000
    params = params_for(np.float64, 10)
    small = init_state(params_for(np.float64, 4))
    with pytest.raises(ValueError, match=r"state\.first\.W1 must be a float64 array of shape"):
        kernels.minibatch_epoch(params, X, Y, np.arange(1000), 100, 0.1, small)
    with pytest.raises(ValueError, match=r"state\.first\.W1 must be a float64 array of shape"):
        kernels.train(X, Y, kernels.TrainConfig(epochs=1), params=params, state=small)
    with pytest.raises(TypeError, match="state must be an OptimizerState"):
        kernels.minibatch_epoch(params, X, Y, np.arange(1000), 100, 0.1, state=(1, 2))
