"""On-the-fly data augmentation of mini-batches: validated wrapper around the Numba kernels.

``augment_batch(X, rows, seed=, epoch=, ...)`` returns the augmented ``X[rows]`` without ever
building an augmented data set; the transform of each image depends only on (seed, epoch, row),
so it is the same whatever the batch, its order or the thread count, and it matches
:func:`mnistbench.reference.augment.augment_image` (scipy.ndimage) to rounding.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from mnistbench.reference.augment import AugmentConfig, check_counter, gaussian_weights
from mnistbench.reference.model import N_PIXELS

from . import _jit_augment, parallel

__all__ = ["AugmentConfig", "augment_batch"]

OUT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Images per thread at least: one image costs ~10-40 us, a thread hand-off tens of us.
MIN_IMAGES_PER_CHUNK = 16
# Integer pixel p reads _LEVELS[p] == p / 255 exactly (fastmath would turn a division into a
# multiplication by a rounded reciprocal).
_LEVELS = np.arange(256) / 255.0
_LEVELS.flags.writeable = False
_NO_LEVELS = np.empty(0)


def _check_X(X: Any) -> np.ndarray:
    """(m, 784) integer pixels 0..255 or floats in [0, 1] (values checked per batch)."""
    if not isinstance(X, np.ndarray):
        raise TypeError(f"X must be a 2-D numpy array, got {type(X).__name__}")
    if X.dtype.kind not in "uif" or X.dtype == np.float16:
        raise TypeError(f"X must hold integer pixels or float32/float64 values, got {X.dtype}")
    if X.ndim != 2 or X.shape[1] != N_PIXELS:
        raise ValueError(f"X must have shape (m, {N_PIXELS}), got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X is empty (0 rows)")
    return X


def _check_rows(rows: Any, m: int) -> np.ndarray:
    """1-D int64 indices, each in 0..m-1: the kernel reads X[rows[i]] unchecked."""
    rows = np.asarray(rows)
    if rows.size == 0 and rows.ndim == 1:
        return np.empty(0, np.int64)  # np.asarray([]) is float64
    if rows.dtype.kind not in "ui":
        raise TypeError(f"rows must be integer row indices, got dtype {rows.dtype}")
    if rows.ndim != 1:
        raise ValueError(f"rows must be 1-D, got shape {rows.shape}")
    if rows.size and (rows.min() < 0 or rows.max() >= m):
        bad = rows[(rows < 0) | (rows >= m)]
        raise ValueError(f"rows must be in 0..{m - 1}, got {bad.size} out of range (e.g. {bad[0]})")
    return np.ascontiguousarray(rows, dtype=np.int64)


def _check_pixels(X: np.ndarray, rows: np.ndarray) -> None:
    """The rows this batch reads: integers in 0..255, floats finite and in [0, 1]."""
    if X.dtype == np.uint8 or rows.size == 0:
        return
    batch = X[rows]
    if X.dtype.kind == "f":
        # NaN/Inf poison the sum; only then look for the first bad pixel.
        if not math.isfinite(float(batch.sum(dtype=np.float64))):
            bad = np.argwhere(~np.isfinite(batch))
            if len(bad):
                i, k = bad[0]
                raise ValueError(f"X[{rows[i]}, {k}] is {batch[i, k]}: NaN/Inf images are refused")
    low, high = batch.min(), batch.max()
    if X.dtype.kind == "f":
        if low < 0 or high > 1:
            raise ValueError(f"float X must be in [0, 1] (pixels / 255), got {low}..{high}")
    elif low < 0 or high > 255:
        raise ValueError(f"integer X must hold pixels in 0..255, got {low}..{high}")


def _check_out(out: Any, dtype: Any, n: int, X: np.ndarray) -> np.ndarray:
    if out is None:
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        if dtype not in OUT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        return np.empty((n, N_PIXELS), dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.dtype not in OUT_DTYPES or (dtype is not None and np.dtype(dtype) != out.dtype):
        raise TypeError(
            f"out must be float32 or float64 (and match dtype={dtype}), got {out.dtype}"
        )
    if out.shape != (n, N_PIXELS):
        raise ValueError(f"out must have shape ({n}, {N_PIXELS}), got {out.shape}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be C-contiguous and writeable")
    if np.may_share_memory(out, X):
        raise ValueError("out must not share memory with X")
    return out


def augment_batch(
    X: np.ndarray,
    rows: Any,
    *,
    seed: int,
    epoch: int,
    config: AugmentConfig | None = None,
    rotate: float = 0.0,
    scale: float = 0.0,
    shift: float = 0.0,
    elastic_alpha: float = 0.0,
    elastic_sigma: float = 0.0,
    noise: float = 0.0,
    dtype: Any = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """X: (m, 784) uint8 (or ints 0..255) or floats in [0, 1]; rows: (n,) indices into X.

    Returns (n, 784) float32 (``dtype``/``out`` may ask for float64) in [0, 1]: image ``rows[i]``
    rotated by U(-rotate, rotate) degrees, zoomed by U(1 - scale, 1 + scale), shifted by
    U(-shift, shift) pixels per axis, warped by Simard's elastic field (alpha, sigma), plus
    N(0, noise) pixel noise, all drawn from (seed, epoch, rows[i]). Either pass ``config`` or the
    individual settings (see :class:`AugmentConfig` for their ranges).
    """
    settings = dict(
        rotate=rotate,
        scale=scale,
        shift=shift,
        elastic_alpha=elastic_alpha,
        elastic_sigma=elastic_sigma,
        noise=noise,
    )
    if config is None:
        config = AugmentConfig(**settings)
    elif not isinstance(config, AugmentConfig):
        raise TypeError(f"config must be an AugmentConfig, got {type(config).__name__}")
    elif any(value != 0 for value in settings.values()):
        raise TypeError("pass either config or the individual settings, not both")
    seed, epoch = check_counter(seed, "seed"), check_counter(epoch, "epoch")
    X = _check_X(X)
    rows = _check_rows(rows, X.shape[0])
    _check_pixels(X, rows)
    out = _check_out(out, dtype, rows.size, X)
    if rows.size == 0:
        return out
    weights = gaussian_weights(config.elastic_sigma) if config.elastic else np.ones(1)
    read = rows
    if not (X.flags.c_contiguous and X.dtype.isnative):  # gather the batch, never all of X
        X, read = np.ascontiguousarray(X[rows], X.dtype.newbyteorder("=")), np.arange(rows.size)
    n_chunks = max(1, min(numba.get_num_threads(), rows.size // MIN_IMAGES_PER_CHUNK))
    bounds = parallel._bounds(rows.size, n_chunks)
    levels = _LEVELS if X.dtype.kind in "ui" else _NO_LEVELS
    args = (
        levels,
        np.uint64(seed),
        np.uint64(epoch),
        config.rotate,
        config.scale,
        config.shift,
        config.elastic_alpha,
        weights,
        config.noise,
    )

    def work(chunk: int) -> None:
        _jit_augment.augment_rows(X, read, rows, bounds[chunk], bounds[chunk + 1], *args, out)

    parallel._run(work, n_chunks)
    return out
