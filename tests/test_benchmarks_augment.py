"""pytest-benchmark group ``augment``: images/s of the Numba kernels and of the same transform
in scipy.ndimage, and an epoch of training with augmentation off and on; each checks its result.

Skipped by plain ``pytest`` (``--benchmark-skip`` in addopts); run with
``pytest tests/test_benchmarks_augment.py --benchmark-only``. ``mnistbench bench --augment``
reports the same comparisons as ratios from interleaved rounds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from mnistbench.bench.augment import (
    BATCH,
    TRANSFORMS,
    check_epoch,
    check_kernel,
    epoch_functions,
    scipy_augment,
    training_digits,
)
from mnistbench.kernels.augment import augment_batch
from mnistbench.reference.model import N_PIXELS

KERNEL_IMAGES = 1024
SCIPY_IMAGES = 128


@lru_cache(maxsize=1)
def _digits():
    return training_digits()


@pytest.mark.benchmark(group="augment")
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_kernel_images(benchmark, transform):
    X, _ = _digits()
    config = TRANSFORMS[transform]
    check_kernel(X, config, transform)  # against the scipy oracle, atol 1e-6
    rows = np.arange(KERNEL_IMAGES, dtype=np.int64)
    out = np.empty((KERNEL_IMAGES, N_PIXELS), np.float32)

    def run():
        for start in range(0, KERNEL_IMAGES, BATCH):
            batch = rows[start : start + BATCH]
            augment_batch(X, batch, seed=0, epoch=1, config=config, out=out[start : start + BATCH])
        return out

    result = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    want = augment_batch(X, rows, seed=0, epoch=1, config=config, dtype=np.float32)
    np.testing.assert_array_equal(result, want)  # batching does not change an image
    benchmark.extra_info["images"] = KERNEL_IMAGES


@pytest.mark.benchmark(group="augment")
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_scipy_images(benchmark, transform):
    X, _ = _digits()
    config = TRANSFORMS[transform]
    rows = np.arange(SCIPY_IMAGES, dtype=np.int64)
    out = benchmark.pedantic(scipy_augment, (X, rows, config, 0), rounds=3, warmup_rounds=1)
    original = X[rows] / 255.0
    assert out.shape == original.shape and 0 <= out.min() and out.max() <= 1
    moved = np.abs(out - original).mean()
    assert 0.01 < moved < 0.3, moved  # transformed, still digits
    np.testing.assert_allclose(out.mean(), original.mean(), rtol=0.2)  # ink roughly preserved
    identity = scipy_augment(X, rows[:8], type(config)(), 0)
    np.testing.assert_allclose(identity, X[:8] / 255.0, atol=1e-12, rtol=0)
    benchmark.extra_info["images"] = SCIPY_IMAGES


@pytest.mark.benchmark(group="augment")
@pytest.mark.parametrize("transform", ["off", "affine", "all"])
def test_epoch_with_augmentation(benchmark, transform):
    """One adam epoch over the 4,000 training digits, hidden 128, batch 128, float32."""
    X, y = _digits()
    config = None if transform == "off" else TRANSFORMS[transform]
    if config is not None:
        check_epoch(X, y, 128, config)  # Numba and NumPy engines agree on an augmented epoch
    epoch = epoch_functions("numba", X, y, 128, np.float32, config)
    order = np.random.default_rng(0).permutation(X.shape[0])
    first_loss = epoch(order)[1] / X.shape[0]
    params, loss_sum, _ = benchmark.pedantic(epoch, (order,), rounds=3, warmup_rounds=1)
    assert all(np.isfinite(p).all() for p in params)
    assert loss_sum / X.shape[0] < first_loss  # still learning after 5 more epochs
