"""Model files: weights, class labels and a JSON metadata string in one ``.npz``.

A model file (format version 2) holds the weights ``W1 (h1, n_in)``, ``b1 (h1,)``, ...,
``WL (n_out, h)``, ``bL (n_out,)`` in the kernels' layout, ``classes`` (the labels, int64 or
unicode, one per output), optionally ``feature_names``, and ``metadata``: a 0-d unicode array
holding a JSON object (format name and version, layer widths, activation, dtype, package
version, the estimator's parameters and training record). Version 1 files (784 -> hidden -> 10,
labels 0..9, the estimator's old parameter names) still load. A batch-normalised network (its
:class:`~mnistbench.estimator.BatchNormState`) adds ``gamma1, beta1, running_mean1,
running_var1``, ... per hidden layer and ``"batch_norm": true`` to the metadata; files without
them load as before. Weights are read back as a ``Network`` whatever their depth. Files are read
with ``allow_pickle=False``, so loading never runs code. Writes go to a temporary file in the
target's directory that replaces the target only once complete (``os.replace``), so an
interrupted save never leaves a corrupt model; the temporary file is removed on any failure.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mnistbench.kernels.checks import check_params
from mnistbench.kernels.network import check_network
from mnistbench.reference.files import atomic_write
from mnistbench.reference.model import N_CLASSES, N_PIXELS, History, Params
from mnistbench.reference.network import Network

from .estimator._state import BatchNormState, bn_keys

FORMAT = "mnistbench-model"
FORMAT_VERSION = 2
ARRAY_KEYS = Params._fields  # one hidden layer; deeper networks go on with W3, b3, ...
METADATA_KEY = "metadata"
CLASSES_KEY = "classes"
FEATURES_KEY = "feature_names"
HISTORY_FIELDS = ("step", "loss", "train_accuracy", "dev_accuracy", "seconds")

__all__ = [
    "FORMAT_VERSION",
    "ModelFile",
    "ModelFileError",
    "atomic_write",
    "history_from_dict",
    "history_to_dict",
    "load_model",
    "package_version",
    "read_model",
    "save_model",
]


class ModelFileError(ValueError):
    """A model file is foreign, truncated, damaged or inconsistent."""


class ModelFile(NamedTuple):
    """What a model file holds."""

    params: Network  # the weights (W1, b1, ..., WL, bL), any depth
    classes: np.ndarray
    feature_names: np.ndarray | None
    metadata: dict[str, Any]
    batch_norm: BatchNormState | None = None  # batch-normalised networks only


def package_version() -> str:
    """The installed mnistbench version, or ``"unknown"`` when it is not installed."""
    try:
        return importlib.metadata.version("mnistbench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def array_keys(n_layers: int) -> tuple[str, ...]:
    """``W1, b1, ..., WL, bL`` for ``n_layers`` weight layers."""
    return tuple(f"{kind}{layer}" for layer in range(1, n_layers + 1) for kind in "Wb")


def _checked(params: Any, where: str, error: type[Exception] | None) -> Network:
    """The kernels' checks as a Network, prefixed with ``where`` (re-raised as ``error``).

    ``check_params``' messages for a 4-tuple that is not a Network (the seed's ``Params``).
    """
    try:
        if isinstance(params, tuple) and len(params) == 4 and not isinstance(params, Network):
            return Network(tuple(check_params(params)))
        return check_network(params)
    except (TypeError, ValueError) as e:
        raise (error or type(e))(f"{where}: {e}") from e


def _bn_checked(
    network: Network, arrays: tuple, where: str, error: type[Exception]
) -> BatchNormState:
    try:
        return BatchNormState.from_arrays(network, tuple(arrays))
    except (TypeError, ValueError) as e:
        raise error(f"{where}: {e}") from e


def _layers(network: Network) -> list[int]:
    return list(network.sizes)


def _labels(classes: Any, n_out: int, where: str) -> np.ndarray:
    """Class labels as an array ``np.savez`` stores without pickling: int64 or unicode."""
    classes = np.arange(n_out) if classes is None else np.asarray(classes)
    if classes.dtype.kind == "O":
        kinds = {type(c) for c in classes.tolist()}
        if kinds <= {str}:
            classes = classes.astype(str)
        elif all(issubclass(k, int) and k is not bool for k in kinds):
            classes = classes.astype(np.int64)
    if classes.dtype.kind not in "iuU" or classes.shape != (n_out,):
        raise TypeError(
            f"{where}: classes must be {n_out} integer or string labels (one per output), got "
            f"{classes.dtype} array of shape {classes.shape}"
        )
    return classes


def save_model(
    path: str | os.PathLike[str],
    params: Network | Params,
    metadata: dict[str, Any] | None = None,
    *,
    classes: Any = None,
    feature_names: Any = None,
    activation: str = "relu",
    batch_norm: BatchNormState | None = None,
) -> Path:
    """Write ``params``, class labels and JSON-serialisable ``metadata`` to ``path`` atomically.

    ``path``: an ``.npz``; labels default to 0..n_out-1; ``batch_norm``: the network's batch
    norm, if any.

    Refuses non-finite or inconsistent params (``ValueError``/``TypeError`` from
    :func:`mnistbench.kernels.checks.check_params`) before touching the disk. The file name is
    used as given (no ``.npz`` is appended). Returns the path written.
    """
    where = "refusing to save the model"
    params = _checked(params, where, None)
    bn = None
    if batch_norm is not None:
        bn = _bn_checked(params, batch_norm.arrays(), where, ValueError).arrays()
    layers = _layers(params)
    classes = _labels(classes, layers[-1], where)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layers": layers,
        "activation": activation,
        "hidden": layers[1:-1],
        "dtype": params.dtype.name,
        "batch_norm": bn is not None,
        "package_version": package_version(),
    }
    try:
        text = json.dumps({**(metadata or {}), **header}, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata must be JSON-serialisable: {e}") from e
    arrays = {**dict(zip(array_keys(len(layers) - 1), params, strict=True)), CLASSES_KEY: classes}
    if bn is not None:
        arrays.update(zip(bn_keys(len(layers) - 2), bn, strict=True))
    if feature_names is not None:
        arrays[FEATURES_KEY] = np.asarray(feature_names, dtype=str)
    path = Path(path)
    with atomic_write(path) as f:
        arrays[METADATA_KEY] = np.array(text)
        np.savez(f, **arrays)
    return path


def load_model(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any]]:
    """``(weights, metadata)`` of a model file; see :func:`read_model`.

    :func:`read_model` also gives a batch-normalised network's batch norm, needed to predict with
    it.
    """
    model = read_model(path)
    return model.params, model.metadata


def read_model(path: str | os.PathLike[str]) -> ModelFile:
    """Read a model written by :func:`save_model` (or a version 1 file).

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
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in (*ARRAY_KEYS, METADATA_KEY) if k not in npz.files]
            if missing:
                raise ModelFileError(
                    f"{where} is not an mnistbench model: missing {', '.join(missing)}"
                )
            arrays = {k: npz[k] for k in npz.files}
    except ModelFileError:
        raise
    except Exception as e:  # whatever a foreign or damaged file makes np.load / zipfile raise
        raise ModelFileError(
            f"{where} is damaged, truncated or not an mnistbench model: {type(e).__name__}: {e}"
        ) from e
    metadata = _parse_metadata(arrays[METADATA_KEY], where)
    expected: Any  # the layer sizes the file claims, checked below
    if metadata["format_version"] == 1:
        expected = [N_PIXELS, metadata.get("hidden"), N_CLASSES]
    else:
        expected = metadata.get("layers")
    n_layers = len(expected) - 1 if isinstance(expected, list) and len(expected) >= 3 else 2
    keys = array_keys(n_layers)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ModelFileError(
            f"{where}: metadata says layers {expected!r} but the file has no {', '.join(missing)}"
        )
    extra = sorted(k for k in arrays if k[:1] in "Wb" and k[1:].isdigit() and k not in keys)
    if extra:
        raise ModelFileError(
            f"{where}: metadata says layers {expected!r} but the file also has {', '.join(extra)}"
        )
    params = _checked(tuple(arrays[k] for k in keys), where, ModelFileError)
    layers = _layers(params)
    batch_norm = None
    if metadata.get("batch_norm") is True:
        names = bn_keys(len(layers) - 2)
        missing = [k for k in names if k not in arrays]
        if missing:
            raise ModelFileError(
                f"{where}: metadata says batch_norm but the file has no {', '.join(missing)}"
            )
        batch_norm = _bn_checked(params, tuple(arrays[k] for k in names), where, ModelFileError)
    elif "gamma1" in arrays:
        raise ModelFileError(
            f"{where} has batch-norm arrays but its metadata does not say batch_norm"
        )
    if expected != layers or metadata.get("dtype") != params.dtype.name:
        raise ModelFileError(
            f"{where}: metadata says layers {expected!r}, dtype={metadata.get('dtype')!r} but the "
            f"weights have layers {layers}, dtype={params.dtype.name}"
        )
    try:
        classes = _labels(arrays.get(CLASSES_KEY), layers[-1], where)
    except TypeError as e:
        raise ModelFileError(str(e)) from e
    features = arrays.get(FEATURES_KEY)
    if features is not None and (features.dtype.kind != "U" or features.shape != (layers[0],)):
        raise ModelFileError(f"{where}: feature_names must be {layers[0]} strings")
    return ModelFile(params, classes, features, metadata, batch_norm)


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


def history_to_dict(history: History) -> dict[str, list]:
    """A :class:`History` as JSON-ready columns."""
    return {name: list(getattr(history, name)) for name in HISTORY_FIELDS}


def history_from_dict(recorded: Any, where: str) -> History:
    """The inverse of :func:`history_to_dict`; an absent record gives an empty history."""
    history = History()
    if recorded is None:
        return history
    try:
        for row in zip(*(recorded[name] for name in HISTORY_FIELDS), strict=True):
            history.append(*row)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{where}: damaged history: {e}") from e
    return history
