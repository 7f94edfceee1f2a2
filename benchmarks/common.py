"""Seeded seed-scale data built once per process, and variant set-up shared by the benchmarks."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mnistbench.kernels.variants import ENGINE, FULL_BATCH, MINIBATCH
from mnistbench.reference.data import seed_scale_matrix
from mnistbench.reference.model import Params, init_params

M = 41_000  # the seed's training-set size
HIDDEN = 10
# input label -> (compute dtype, pixels as given to the variant)
INPUTS = {"float64": (np.float64, "float"), "float32": (np.float32, "float"),
          "uint8->float32": (np.float32, "uint8")}  # fmt: skip


def check_against_reference(factory, params: Params, X, X8, Y, dtype) -> None:
    """Refuse to time a variant whose step disagrees with the reference on 2,000 rows.

    Written against the registry alone (not package internals), so that ``asv run`` over older
    commits can still import the suite.
    """
    rows = slice(0, 2000)
    X_ref = (X8[rows] / dtype(255)).astype(dtype)
    want = FULL_BATCH["reference"](params, X_ref, Y[rows])(params, 0.1)
    got = factory(params, X[rows], Y[rows])(params, 0.1)
    atol, rtol = (1e-10, 1e-8) if dtype == np.float64 else (1e-4, 1e-3)
    for name, a, b in zip([*Params._fields, "loss"], [*got[0], got[1]], [*want[0], want[1]],
                          strict=True):  # fmt: skip
        if not np.allclose(a, b, atol=atol, rtol=rtol):
            raise RuntimeError(f"refusing to time a wrong kernel: {name} differs from reference")


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
    return not (ENGINE[variant] == "torch" and dtype == np.float64)


def full_batch_step(variant: str, input_label: str):
    """A verified, warmed step of ``variant`` and its params; NotImplementedError skips."""
    if not supported(variant, input_label, FULL_BATCH):
        raise NotImplementedError(f"{variant} does not run {input_label}")
    dtype, kind = INPUTS[input_label]
    X8, Y = seed_data()
    X = pixels(dtype, kind)
    params = init_params(HIDDEN, seed=0, dtype=dtype)
    check_against_reference(FULL_BATCH[variant], params, X, X8, Y, dtype)
    step = FULL_BATCH[variant](params, X, Y)
    step(params, 0.1)  # JIT compile and warm caches outside the timing
    return step, params


def minibatch_epoch(variant: str, input_label: str):
    """A warmed mini-batch epoch function of ``variant``, its params and a seeded order."""
    if not supported(variant, input_label, MINIBATCH):
        raise NotImplementedError(f"{variant} does not run {input_label}")
    dtype, kind = INPUTS[input_label]
    _, Y = seed_data()
    params = init_params(HIDDEN, seed=0, dtype=dtype)
    epoch = MINIBATCH[variant](params, pixels(dtype, kind), Y)
    order = np.random.default_rng(0).permutation(M)
    _check_epoch(variant, epoch, params, order, dtype, kind)
    return epoch, params, order


def _check_epoch(variant, epoch, params: Params, order, dtype, kind) -> None:
    """The first 2,000 samples of an epoch at batch 128 must match the reference's."""
    if variant == "reference":
        return
    _, Y = seed_data()
    reference = MINIBATCH["reference"](params, pixels(dtype, "float"), Y)
    got, got_loss = epoch(params, order[:2000], 128, 0.01)
    want, want_loss = reference(params, order[:2000], 128, 0.01)
    atol, rtol = (1e-9, 1e-7) if dtype == np.float64 else (2e-4, 2e-3)
    for a, b in zip([*got, got_loss], [*want, want_loss], strict=True):
        if not np.allclose(a, b, atol=atol, rtol=rtol):
            raise RuntimeError(f"refusing to time {variant}: its epoch differs from the reference")
