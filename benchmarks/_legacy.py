"""The registry and its checks as the first commits of the asv suite had them.

``asv run`` imports today's suite against every commit it benchmarks. From the suite's first
commit (51b06df) up to the one that gave the application its own package (0cfba09, which moved
the registry into it; common.py looks there first), the registry was
``mnistbench.kernels.variants`` and had no checks of its own: those 12 commits get them here,
so the seed full-batch, mini-batch, inference and compile benchmarks still run there (checked
against 0cfba09^ in a virtualenv of its own). Same rules as the new ones: one step within
(1e-12, 1e-9) f64 / (2e-5, 1e-4) f32, an epoch within (1e-10, 1e-8) / (2e-4, 2e-3).
"""

from __future__ import annotations

import numpy as np

from mnistbench.reference.model import Params

try:
    from mnistbench.kernels.variants import ENGINE as ENGINE_OF_VARIANT
    from mnistbench.kernels.variants import FULL_BATCH, MINIBATCH
except ImportError:  # a later commit: asv imports every module, common.py ignores this one
    ENGINE_OF_VARIANT, FULL_BATCH, MINIBATCH = {}, {}, {}

__all__ = [
    "ENGINE_OF_VARIANT",
    "FULL_BATCH",
    "MINIBATCH",
    "check_against_reference",
    "check_epoch_against_reference",
]

_TOL = {np.dtype(np.float64): (1e-12, 1e-9), np.dtype(np.float32): (2e-5, 1e-4)}
_EPOCH_TOL = {np.dtype(np.float64): (1e-10, 1e-8), np.dtype(np.float32): (2e-4, 2e-3)}


def _as_float(X: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return X / dtype.type(255) if X.dtype == np.uint8 else X.astype(dtype)


def _compare(variant: str, got, want, tol) -> None:
    for name, a, b in zip(
        [*Params._fields, "loss"], [*got[0], got[1]], [*want[0], want[1]], strict=True
    ):
        if not np.allclose(a, b, atol=tol[0], rtol=tol[1]):
            raise RuntimeError(f"refusing to time {variant}: {name} differs from the reference")


def check_against_reference(variant: str, params: Params, X, Y) -> None:
    dtype = np.dtype(params[0].dtype)
    X, Y = X[:2000], Y[:2000]
    want = FULL_BATCH["reference"](params, _as_float(X, dtype), Y)(params, 0.1)
    _compare(variant, FULL_BATCH[variant](params, X, Y)(params, 0.1), want, _TOL[dtype])


def check_epoch_against_reference(variant: str, params: Params, X, Y, order) -> None:
    dtype = np.dtype(params[0].dtype)
    head = order[:2000]
    want = MINIBATCH["reference"](params, _as_float(X, dtype), Y)(params, head, 128, 0.01)
    got = MINIBATCH[variant](params, X, Y)(params, head, 128, 0.01)
    _compare(variant, got, want, _EPOCH_TOL[dtype])
