"""The layer-stack kernels with dropout, L1 and batch norm (kernels/regularized.py) against the
reference's regularized_epoch: per dtype, optimizer, option, batch size (1, 7, 50, full) and
thread count; one step (where a single differing mask entry would show), three epochs, the
options-off path against the plain kernels bit for bit, and bad input refused."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from conftest import TOL, TRAJECTORY_TOL
from mnistbench.kernels import network as kernel_network
from mnistbench.kernels.regularized import RegularizedRunner, regularized_epoch
from mnistbench.reference import regularized as ref
from mnistbench.reference.batchnorm import init_batch_norm, init_running_stats
from mnistbench.reference.data import load_embedded, train_dev_split
from mnistbench.reference.network import init_network
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.training import as_float

SIZES = (784, 40, 24, 10)
OPTIONS = {
    "dropout": dict(dropout=0.3),
    "dropout_per_layer": dict(dropout=(0.5, 0.0)),
    "l1": dict(l1=1e-3),
    "batch_norm": dict(batch_norm=True),
    "all": dict(dropout=(0.3, 0.1), l1=1e-4, batch_norm=True),
}


@pytest.fixture(scope="module")
def digits():
    data = load_embedded()  # sorted by label: split (shuffled) first
    X, y, _, _ = train_dev_split(data.X, data.y)
    return X[:300], y[:300]


def _run(epoch, X, y, dtype, optimizer, options, *, epochs, batch_size, mask_rows=None):
    """(network, bn, running, loss sums, correct counts, state) after ``epochs`` epochs."""
    options = dict(options)
    batch_norm = options.pop("batch_norm", False)
    network = init_network(SIZES, seed=1, dtype=dtype)
    bn = init_batch_norm(SIZES[1:-1], dtype) if batch_norm else None
    running = init_running_stats(bn) if batch_norm else None
    state = ref.init_regularized_state(network, bn)
    rng = np.random.default_rng(0)
    losses, corrects = [], []
    lr = 0.05 if optimizer == "sgd" else 5e-3
    for _ in range(epochs):
        order = rng.permutation(len(y))
        network, bn, loss, correct = epoch(
            network,
            X,
            y,
            order,
            batch_size,
            lr,
            state,
            OptimizerConfig(optimizer),
            1e-4,
            "relu",
            dropout_seed=9,
            bn=bn,
            running=running,
            bn_momentum=0.2,
            mask_rows=mask_rows,
            **options,
        )
        losses.append(loss)
        corrects.append(correct)
    return network, bn, running, losses, corrects, state


def _arrays(network, bn, running):
    return tuple(network) + (() if bn is None else (*bn, *running.mean, *running.var))


def _compare(got, want, dtype, table):
    atol, rtol = table[np.dtype(dtype)]
    np.testing.assert_allclose(got[3], want[3], atol=atol, rtol=rtol)  # loss sums
    assert got[4] == want[4] and got[5].t == want[5].t
    for i, (a, b) in enumerate(zip(_arrays(*got[:3]), _arrays(*want[:3]), strict=True)):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=f"array {i}")
    for a, b in zip(got[5].first + got[5].second, want[5].first + want[5].second, strict=True):
        np.testing.assert_allclose(a, b, atol=atol, rtol=rtol)


# Adam moves a weight that L1 holds at 0 by ~lr per step to the side sign(w) says, so in float32
# rounding (summation order) sends such weights down different paths within three epochs
# (the estimator's test bounds how far); float64, and sgd/momentum in float32, agree.
CASES = [
    (dtype, optimizer, option)
    for dtype in (np.float64, np.float32)
    for optimizer in ("sgd", "momentum", "adam")
    for option in OPTIONS
    if not (dtype == np.float32 and optimizer == "adam" and "l1" in OPTIONS[option])
]


@pytest.mark.parametrize(
    ("dtype", "optimizer", "option"),
    CASES,
    ids=[f"{np.dtype(d).name}-{o}-{p}" for d, o, p in CASES],
)
def test_three_epochs_match_the_reference(digits, dtype, optimizer, option):
    X, y = digits
    got = _run(regularized_epoch, X, y, dtype, optimizer, OPTIONS[option], epochs=3, batch_size=50)
    want = _run(
        ref.regularized_epoch,
        as_float(X, dtype),
        y,
        dtype,
        optimizer,
        OPTIONS[option],
        epochs=3,
        batch_size=50,
    )
    _compare(got, want, dtype, TRAJECTORY_TOL)


@pytest.mark.parametrize("batch_size", [1, 7, 50, 300])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_epoch_matches_the_reference_at_any_batch_size(digits, dtype, batch_size):
    """Every option on (momentum: see CASES); batch 1 leaves the running statistics alone (no
    variance to measure) and normalises every row to beta; full batch is gradient descent."""
    X, y = digits
    X, y = (X[:40], y[:40]) if batch_size == 1 else (X, y)
    got = _run(
        regularized_epoch, X, y, dtype, "momentum", OPTIONS["all"], epochs=1, batch_size=batch_size
    )
    want = _run(
        ref.regularized_epoch,
        as_float(X, dtype),
        y,
        dtype,
        "momentum",
        OPTIONS["all"],
        epochs=1,
        batch_size=batch_size,
    )
    _compare(got, want, dtype, TRAJECTORY_TOL)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_step_with_dropout_matches_so_every_mask_entry_agrees(digits, dtype):
    """One sgd step at rate 0.5: a unit kept on one side and dropped on the other would move
    its weights by a whole gradient row, far beyond TOL; masks drawn for other data-set rows
    (mask_rows) agree as well."""
    X, y = digits
    options = dict(dropout=0.5)
    rows = np.arange(1000, 1000 + len(y))
    for mask_rows in (None, rows):
        got = _run(
            regularized_epoch,
            X,
            y,
            dtype,
            "sgd",
            options,
            epochs=1,
            batch_size=len(y),
            mask_rows=mask_rows,
        )
        want = _run(
            ref.regularized_epoch,
            as_float(X, dtype),
            y,
            dtype,
            "sgd",
            options,
            epochs=1,
            batch_size=len(y),
            mask_rows=mask_rows,
        )
        _compare(got, want, dtype, TOL)
    moved = _run(regularized_epoch, X, y, dtype, "sgd", options, epochs=1, batch_size=len(y))
    assert not np.allclose(moved[0][0], got[0][0])  # other rows, other masks


def test_result_does_not_depend_on_the_thread_count(digits):
    X, y = digits
    results = []
    threads = numba.get_num_threads()
    try:
        for count in sorted({1, threads}):
            numba.set_num_threads(count)
            results.append(
                _run(
                    regularized_epoch,
                    X,
                    y,
                    np.float64,
                    "adam",
                    OPTIONS["all"],
                    epochs=2,
                    batch_size=50,
                )
            )
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(_arrays(*results[0][:3]), _arrays(*results[-1][:3]), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_options_off_is_the_plain_layer_stack_bit_for_bit(digits, optimizer):
    X, y = digits
    network = init_network(SIZES, seed=3, dtype=np.float32)
    order = np.random.default_rng(2).permutation(len(y))
    config = OptimizerConfig(optimizer)
    state_a, state_b = init_state(network), init_state(network)
    plain = kernel_network.network_epoch(network, X, y, order, 32, 1e-2, state_a, config, 1e-3)
    regularized = regularized_epoch(network, X, y, order, 32, 1e-2, state_b, config, 1e-3)
    for a, b in zip(plain[0], regularized[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert regularized[1] is None and plain[1:] == regularized[2:]


BAD = [
    (dict(dropout=1.0), ValueError, r"dropout rate must be in \[0, 1\)"),
    (dict(dropout=(0.1,)), ValueError, r"one rate per hidden layer \(2\)"),
    (dict(l1=-1.0), ValueError, "l1 must be finite and >= 0"),
    (dict(bn_momentum=1.0), ValueError, r"momentum must be in \(0, 1\)"),
    (dict(dropout_seed=-1), ValueError, "dropout_seed must be in 0..2"),
    (dict(mask_rows=np.arange(5)), ValueError, "mask_rows must be 300 integer rows"),
    (dict(mask_rows=-np.arange(300)), ValueError, "mask_rows must be in 0..2"),
    (dict(bn=init_batch_norm((40, 25), np.float32)), ValueError, "bn must normalise"),
]


@pytest.mark.parametrize(("options", "error", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_options_are_refused_before_any_kernel_runs(digits, options, error, match):
    X, y = digits
    network = init_network(SIZES, seed=1, dtype=np.float32)
    bn = options.get("bn")
    extra = {} if bn is None else {"running": init_running_stats(bn)}
    state = init_state(network)
    with pytest.raises(error, match=match):
        regularized_epoch(
            network, X, y, np.arange(300), 50, 1e-3, state, OptimizerConfig(), **options, **extra
        )
    assert state.t == 0


def test_state_must_cover_network_then_batch_norm(digits):
    X, y = digits
    network = init_network(SIZES, seed=1, dtype=np.float64)
    bn = init_batch_norm(SIZES[1:-1], np.float64)
    runner = RegularizedRunner(network, X, y, batch_norm=True)
    with pytest.raises(ValueError, match=r"state.first must match \(\*network, \*bn\)"):
        runner.run(
            network, bn, init_running_stats(bn), np.arange(300), 50, 1e-3, init_state(network)
        )
