"""pytest-benchmark timings of the registry's variants; each also checks its result.

Skipped by plain ``pytest`` (``--benchmark-skip`` in addopts); run with
``pytest --benchmark-only`` (add ``--benchmark-json``, ``--benchmark-autosave``,
``--benchmark-compare`` as usual). The asv suite in benchmarks/ times the full seed scale.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from conftest import TRAJECTORY_TOL, assert_close, assert_params_close
from mnistbench import kernels
from mnistbench.bench.variants import BASELINES, DTYPES_OF_VARIANT, FULL_BATCH, MINIBATCH
from mnistbench.reference import model as ref
from mnistbench.reference import training as ref_training
from mnistbench.reference.data import seed_scale_matrix

M = 8000
INPUTS = {
    "float64": (np.float64, "float"),
    "float32": (np.float32, "float"),
    "uint8->float32": (np.float32, "uint8"),
}


@lru_cache(maxsize=1)
def _data():
    return seed_scale_matrix(M, seed=0)


def _case(registry, variant, input_label):
    dtype, kind = INPUTS[input_label]
    if np.dtype(dtype).name not in DTYPES_OF_VARIANT[variant]:
        pytest.skip(f"{variant} runs {', '.join(DTYPES_OF_VARIANT[variant])} only")
    X8, Y = _data()
    X_ref = ref_training.as_float(X8, dtype)
    params = kernels.init_params(10, seed=0, dtype=dtype)
    return np.dtype(dtype), (X8 if kind == "uint8" else X_ref), X_ref, Y, params


@pytest.mark.benchmark(group="full_batch")
@pytest.mark.parametrize("input_label", list(INPUTS))
@pytest.mark.parametrize("variant", sorted(FULL_BATCH))
def test_full_batch_iteration(benchmark, variant, input_label):
    dtype, X, X_ref, Y, params = _case(FULL_BATCH, variant, input_label)
    step = FULL_BATCH[variant](params, X, Y)
    new, loss_value = benchmark.pedantic(step, (params, 0.1), rounds=5, warmup_rounds=1)
    want, want_loss = FULL_BATCH["reference"](params, X_ref, Y)(params, 0.1)
    if variant in BASELINES:  # the notebook: every bias moves by the sum of the per-unit steps
        want = want._replace(
            b1=params.b1 - (params.b1 - want.b1).sum(), b2=params.b2 - (params.b2 - want.b2).sum()
        )
    assert_params_close(new, want, dtype, TRAJECTORY_TOL)
    assert_close(loss_value, want_loss, dtype, TRAJECTORY_TOL)


@pytest.mark.benchmark(group="minibatch")
@pytest.mark.parametrize("batch_size", [32, 128, 512])
@pytest.mark.parametrize("input_label", ["float32", "uint8->float32"])
@pytest.mark.parametrize("variant", sorted(MINIBATCH))
def test_minibatch_epoch(benchmark, variant, input_label, batch_size):
    dtype, X, X_ref, Y, params = _case(MINIBATCH, variant, input_label)
    order = np.random.default_rng(0).permutation(M)
    epoch = MINIBATCH[variant](params, X, Y)
    new, loss_value = benchmark.pedantic(
        epoch, (params, order, batch_size, 0.01), rounds=3, warmup_rounds=1
    )
    want, want_loss = MINIBATCH["reference"](params, X_ref, Y)(params, order, batch_size, 0.01)
    assert_params_close(new, want, dtype, TRAJECTORY_TOL)
    assert_close(loss_value, want_loss, dtype, TRAJECTORY_TOL)


@pytest.mark.benchmark(group="inference")
@pytest.mark.parametrize("input_label", list(INPUTS))
@pytest.mark.parametrize("engine", ["reference", "numba"])
def test_predict(benchmark, engine, input_label):
    _, X, X_ref, _, params = _case(FULL_BATCH, "numba_unfused", input_label)
    predict = ref.make_predictions if engine == "reference" else kernels.make_predictions
    X_in = X_ref if engine == "reference" else X
    labels = benchmark.pedantic(predict, (X_in, params), rounds=5, warmup_rounds=1)
    np.testing.assert_array_equal(labels, ref.make_predictions(X_ref, params))
