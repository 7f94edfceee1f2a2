"""Seeded seed-scale data built once per process, and variant set-up shared by the benchmarks."""

from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

from mnistbench.reference.data import seed_scale_matrix
from mnistbench.reference.model import init_params

try:
    from mnistbench.variants import (
        ENGINE_OF_VARIANT,
        FULL_BATCH,
        MINIBATCH,
        check_against_reference,
        check_epoch_against_reference,
    )
except ImportError:  # commits before the application package: the registry lived in kernels/
    from ._legacy import (
        ENGINE_OF_VARIANT,
        FULL_BATCH,
        MINIBATCH,
        check_against_reference,
        check_epoch_against_reference,
    )
try:
    from mnistbench.variants import BASELINES, DTYPES_OF_VARIANT
except ImportError:  # commits before the notebook baseline: dtypes follow the engine
    BASELINES, DTYPES_OF_VARIANT = frozenset(), {}

M = 41_000  # the seed's training-set size
HIDDEN = 10
# input label -> (compute dtype, pixels as given to the variant)
INPUTS = {
    "float64": (np.float64, "float"),
    "float32": (np.float32, "float"),
    "uint8->float32": (np.float32, "uint8"),
}


@lru_cache(maxsize=1)
def seed_data() -> tuple[np.ndarray, np.ndarray]:
    """(41,000, 784) uint8 real images and int64 labels, the same on every run."""
    return seed_scale_matrix(M, seed=0)


@lru_cache(maxsize=4)
def pixels(dtype: type, kind: str) -> np.ndarray:
    X8, _ = seed_data()
    return X8 if kind == "uint8" else (X8 / dtype(255)).astype(dtype)


def supported(variant: str, input_label: str, registry: dict) -> bool:
    dtype, _ = INPUTS[input_label]
    if variant not in registry:
        return False  # e.g. torch variants where PyTorch is not installed
    if variant in DTYPES_OF_VARIANT:
        return np.dtype(dtype).name in DTYPES_OF_VARIANT[variant]
    return not (ENGINE_OF_VARIANT[variant] == "torch" and dtype == np.float64)


def full_batch_step(variant: str, input_label: str):
    """A verified, warmed step of ``variant`` and its params; NotImplementedError skips."""
    if not supported(variant, input_label, FULL_BATCH):
        raise NotImplementedError(f"{variant} does not run {input_label}")
    dtype, kind = INPUTS[input_label]
    _, Y = seed_data()
    X = pixels(dtype, kind)
    params = init_params(HIDDEN, seed=0, dtype=dtype)
    check_against_reference(variant, params, X, Y)
    step = FULL_BATCH[variant](params, X, Y)
    step(params, 0.1)  # JIT compile and warm caches outside the timing
    return step, params


def speedup(baseline, case, rounds: int = 7) -> float:
    """median(baseline time) / median(case time), each a (step, params) pair from
    :func:`full_batch_step`, over ``rounds`` interleaved rounds so drift hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for (step, params), store in zip((baseline, case), times, strict=True):
            started = time.perf_counter()
            step(params, 0.1)
            store.append(time.perf_counter() - started)
    return float(np.median(times[0]) / np.median(times[1]))


def minibatch_epoch(variant: str, input_label: str):
    """A warmed mini-batch epoch function of ``variant``, its params and a seeded order."""
    if not supported(variant, input_label, MINIBATCH):
        raise NotImplementedError(f"{variant} does not run {input_label}")
    dtype, kind = INPUTS[input_label]
    _, Y = seed_data()
    params = init_params(HIDDEN, seed=0, dtype=dtype)
    epoch = MINIBATCH[variant](params, pixels(dtype, kind), Y)
    order = np.random.default_rng(0).permutation(M)
    if variant != "reference":
        check_epoch_against_reference(variant, params, pixels(dtype, kind), Y, order)
    return epoch, params, order
