"""Seeded seed-scale data built once per process, and verified, warmed cases shared by the
benchmarks.

asv re-runs ``setup`` before every sample it times, so the case builders here are memoised per
process: the first ``setup`` builds the data, checks the variant against the reference and runs
it once (JIT compilation, caches), and every later ``setup`` of the same case returns the same
warmed objects at once. Compilation is never inside a timed call, nor repeated per sample.
"""

from __future__ import annotations

import time
from functools import cache, lru_cache

import numpy as np

from mnistbench.reference.data import seed_scale_matrix
from mnistbench.reference.model import init_params

from .presets import SEED_ROWS

try:  # since the registry moved under the bench package
    from mnistbench.bench import variants as _registry
except ImportError:
    try:
        from mnistbench import variants as _registry
    except ImportError:  # the commits before the application package: see _legacy.py
        from . import _legacy as _registry

if not _registry.FULL_BATCH:
    raise ImportError("this commit has no variant registry the asv suite can read")

ENGINE_OF_VARIANT = _registry.ENGINE_OF_VARIANT
FULL_BATCH = _registry.FULL_BATCH
MINIBATCH = _registry.MINIBATCH
check_against_reference = _registry.check_against_reference
check_epoch_against_reference = _registry.check_epoch_against_reference
# commits before the notebook baseline: none, and dtypes follow the engine
BASELINES = getattr(_registry, "BASELINES", frozenset())
DTYPES_OF_VARIANT = getattr(_registry, "DTYPES_OF_VARIANT", {})
# today's variant name -> its name in the registries before e9d4db9 (bench.compare.RENAMED
# the other way round), so a benchmark's history runs on under today's name
OLD_NAMES = {
    "full_batch": {"numba_unfused": "numba"},
    "minibatch": {"numba_fused": "numba"},
}

M = SEED_ROWS
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
    """The seed data's pixels as the variant takes them: uint8, or floats in [0, 1]."""
    X8, _ = seed_data()
    return X8 if kind == "uint8" else (X8 / dtype(255)).astype(dtype)


def registry_name(variant: str, section: str) -> str:
    """``variant`` as this commit's ``section`` registry ("full_batch", "minibatch") names it;
    NotImplementedError (asv: skipped) where the commit has no such variant, e.g. the torch
    variants where PyTorch is not installed.
    """
    registry = FULL_BATCH if section == "full_batch" else MINIBATCH
    for name in (variant, OLD_NAMES[section].get(variant)):
        if name in registry:
            return name
    raise NotImplementedError(f"this commit has no {section} variant {variant}")


def supported(name: str, input_label: str) -> bool:
    """Whether the registry's variant ``name`` runs ``input_label``."""
    dtype, _ = INPUTS[input_label]
    if name in DTYPES_OF_VARIANT:
        return np.dtype(dtype).name in DTYPES_OF_VARIANT[name]
    return not (ENGINE_OF_VARIANT[name] == "torch" and dtype == np.float64)


@cache
def full_batch_step(variant: str, input_label: str):
    """A verified, warmed step of ``variant`` and its params; NotImplementedError skips."""
    name = registry_name(variant, "full_batch")
    if not supported(name, input_label):
        raise NotImplementedError(f"{variant} does not run {input_label}")
    dtype, kind = INPUTS[input_label]
    _, Y = seed_data()
    X = pixels(dtype, kind)
    params = init_params(HIDDEN, seed=0, dtype=dtype)
    check_against_reference(name, params, X, Y)
    step = FULL_BATCH[name](params, X, Y)
    step(params, 0.1)  # JIT compile and warm caches outside the timing
    return step, params


def speedup(baseline, case, rounds: int = 7) -> float:
    """median(baseline time) / median(case time), each a (step, params) pair from
    :func:`full_batch_step`, over ``rounds`` interleaved rounds so drift hits both alike.
    """
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for (step, params), store in zip((baseline, case), times, strict=True):
            started = time.perf_counter()
            step(params, 0.1)
            store.append(time.perf_counter() - started)
    return float(np.median(times[0]) / np.median(times[1]))


def minibatch_case(variant: str, input_label: str):
    """A verified (not yet run) mini-batch epoch function of ``variant``, its params and a
    seeded order over the seed data; NotImplementedError skips.
    """
    name = registry_name(variant, "minibatch")
    if not supported(name, input_label):
        raise NotImplementedError(f"{variant} does not run {input_label}")
    dtype, kind = INPUTS[input_label]
    _, Y = seed_data()
    params = init_params(HIDDEN, seed=0, dtype=dtype)
    epoch = MINIBATCH[name](params, pixels(dtype, kind), Y)
    order = np.random.default_rng(0).permutation(M)
    if name != "reference":
        check_epoch_against_reference(name, params, pixels(dtype, kind), Y, order)
    return epoch, params, order


@cache
def minibatch_epoch(variant: str, input_label: str, batch_size: int):
    """:func:`minibatch_case`, run once at ``batch_size`` (JIT compilation, and the per-shape
    compilation of ``torch.compile`` and ``jax.jit``, outside the timing).
    """
    epoch, params, order = minibatch_case(variant, input_label)
    epoch(params, order, batch_size, 0.01)
    return epoch, params, order
