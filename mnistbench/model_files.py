"""Model files: the four weight arrays and a JSON metadata string in one ``.npz``.

A model file holds ``W1 (hidden, 784)``, ``b1 (hidden,)``, ``W2 (10, hidden)``, ``b2 (10,)`` and
``metadata``, a 0-d unicode array holding a JSON object (format name and version, hidden size,
dtype, package version, training options). It is read with ``allow_pickle=False``, so loading a
file never runs code. Writes go to a temporary file in the target's directory that replaces the
target only once complete (``os.replace``), so an interrupted save never leaves a corrupt model,
and the temporary file is removed on any failure.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mnistbench.kernels.checks import FLOAT_DTYPES
from mnistbench.reference.files import atomic_write
from mnistbench.reference.model import N_CLASSES, N_PIXELS, Params

FORMAT = "mnistbench-model"
FORMAT_VERSION = 1
ARRAY_KEYS = Params._fields
METADATA_KEY = "metadata"

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "atomic_write",
    "load_model",
    "package_version",
    "save_model",
]


class ModelFileError(ValueError):
    """A model file is foreign, truncated, damaged or inconsistent."""


def package_version() -> str:
    """The installed mnistbench version, or ``"unknown"`` when it is not installed."""
    try:
        return importlib.metadata.version("mnistbench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _check_arrays(
    params: Any, where: str, type_error: type[Exception], value_error: type[Exception]
) -> Params:
    """Shapes (hidden, 784) / (hidden,) / (10, hidden) / (10,), one float dtype, all finite."""
    if not isinstance(params, tuple) or len(params) != len(ARRAY_KEYS):
        kind = type(params).__name__
        raise type_error(f"{where}: params must be a Params(W1, b1, W2, b2), got {kind}")
    for name, a in zip(ARRAY_KEYS, params, strict=True):
        if not isinstance(a, np.ndarray):
            raise type_error(f"{where}: {name} must be a numpy array, got {type(a).__name__}")
        if a.dtype not in FLOAT_DTYPES:
            raise type_error(f"{where}: {name} must be float32 or float64, got {a.dtype}")
    W1, b1, W2, b2 = params
    if len({a.dtype for a in params}) != 1:
        raise type_error(
            f"{where}: W1, b1, W2, b2 must share one dtype, got {[str(a.dtype) for a in params]}"
        )
    hidden = W1.shape[0] if W1.ndim == 2 else -1
    expected = ((hidden, N_PIXELS), (hidden,), (N_CLASSES, hidden), (N_CLASSES,))
    if hidden < 1 or tuple(a.shape for a in params) != expected:
        raise value_error(
            f"{where}: expected a {N_PIXELS} -> hidden -> {N_CLASSES} network with shapes "
            f"W1 (hidden, {N_PIXELS}), b1 (hidden,), W2 ({N_CLASSES}, hidden), "
            f"b2 ({N_CLASSES},); got W1 {W1.shape}, b1 {b1.shape}, W2 {W2.shape}, b2 {b2.shape}"
        )
    for name, a in zip(ARRAY_KEYS, params, strict=True):
        if not np.isfinite(a).all():
            raise value_error(f"{where}: {name} contains NaN or Inf")
    return Params(*(np.ascontiguousarray(a) for a in params))


def save_model(
    path: str | os.PathLike[str], params: Params, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``params`` and JSON-serialisable ``metadata`` to ``path`` (an ``.npz``) atomically.

    Refuses non-finite or wrongly shaped params (``ValueError``) before touching the disk. The
    file name is used as given (no ``.npz`` is appended). Returns the path written.
    """
    params = _check_arrays(params, "refusing to save the model", TypeError, ValueError)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "hidden": params.hidden,
        "dtype": params.dtype.name,
        "package_version": package_version(),
    }
    try:
        text = json.dumps({**(metadata or {}), **header}, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata must be JSON-serialisable: {e}") from e
    path = Path(path)
    arrays = dict(zip(ARRAY_KEYS, params, strict=True))
    with atomic_write(path) as f:
        np.savez(f, **arrays, **{METADATA_KEY: np.array(text)})
    return path


def load_model(path: str | os.PathLike[str]) -> tuple[Params, dict[str, Any]]:
    """Read a model written by :func:`save_model`: ``(params, metadata)``.

    Raises ``FileNotFoundError`` for a missing file and :class:`ModelFileError` for anything
    that is not a complete, consistent, finite mnistbench model of a known format version.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"model path {path} is a directory, not a model file")
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    where = f"model file {path}"
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x93NUMPY"):
        raise ModelFileError(f"{where} is a single .npy array, not an mnistbench model (.npz)")
    if not head.startswith(b"PK"):
        kind = "an empty file" if not head else f"a file starting with {head!r}"
        raise ModelFileError(f"{where} is not an mnistbench model (.npz archive): {kind}")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in (*ARRAY_KEYS, METADATA_KEY) if k not in npz.files]
            if missing:
                raise ModelFileError(
                    f"{where} is not an mnistbench model: missing {', '.join(missing)}"
                )
            for key in (*ARRAY_KEYS, METADATA_KEY):
                arrays[key] = npz[key]
    except ModelFileError:
        raise
    except Exception as e:  # whatever a foreign or damaged file makes np.load / zipfile raise
        raise ModelFileError(
            f"{where} is damaged, truncated or not an mnistbench model: {type(e).__name__}: {e}"
        ) from e
    metadata = _parse_metadata(arrays[METADATA_KEY], where)
    params = _check_arrays(
        Params(*(arrays[k] for k in ARRAY_KEYS)), where, ModelFileError, ModelFileError
    )
    if metadata.get("hidden") != params.hidden or metadata.get("dtype") != params.dtype.name:
        raise ModelFileError(
            f"{where}: metadata says hidden={metadata.get('hidden')!r}, "
            f"dtype={metadata.get('dtype')!r} but the weights have hidden={params.hidden}, "
            f"dtype={params.dtype.name}"
        )
    return params, metadata


def _parse_metadata(raw: np.ndarray, where: str) -> dict[str, Any]:
    if raw.dtype.kind != "U" or raw.shape != ():
        raise ModelFileError(
            f"{where}: metadata must be a JSON string, got {raw.dtype} array of shape {raw.shape}"
        )
    try:
        metadata = json.loads(str(raw))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{where}: metadata is not valid JSON: {e}") from e
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{where} is not an mnistbench model (format is not {FORMAT!r})")
    version = metadata.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{where}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where} has format version {version}, newer than this mnistbench "
            f"({package_version()}) reads (<= {FORMAT_VERSION}); upgrade mnistbench"
        )
    return metadata
