"""Loaders on small files the tests write, the embedded digits, Fashion-MNIST, the seed split."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mnistbench.reference import data
from mnistbench.reference.data import DataError

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))
needs_fashion = pytest.mark.skipif(
    not data.fashion_mnist_available(), reason="Debian's dataset-fashion-mnist is not installed"
)


def _digits(m: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (m, 784)).astype(np.uint8), rng.integers(0, 10, m)


def _write_csv(path, X, y=None, header=None):
    if header is None:
        pixels = ",".join(f"pixel{i}" for i in range(784))
        header = pixels if y is None else "label," + pixels
    rows = [
        ",".join(map(str, ([] if y is None else [label]) + list(row)))
        for label, row in zip(y if y is not None else [None] * len(X), X.tolist(), strict=True)
    ]
    text = "\n".join([header, *rows]) + "\n"
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _idx_bytes(array: np.ndarray) -> bytes:
    magic = bytes([0, 0, 0x08, array.ndim])
    dims = b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return magic + dims + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("name", ["train.csv", "train.csv.gz"])
def test_kaggle_train_csv_round_trip(tmp_path, name):
    X, y = _digits()
    got = data.load_kaggle_csv(_write_csv(tmp_path / name, X, y))
    assert got.X.dtype == np.uint8 and got.X.flags.c_contiguous
    np.testing.assert_array_equal(got.X, X)
    np.testing.assert_array_equal(got.y, y)
    assert got.y.dtype == np.int64


def test_kaggle_test_csv_has_no_labels(tmp_path):
    X, _ = _digits(3)
    got = data.load_data(_write_csv(tmp_path / "test.csv", X))
    assert got.y is None
    np.testing.assert_array_equal(got.X, X)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda h, rows: (h.replace(",pixel783", ""), [r.rsplit(",", 1)[0] for r in rows]),
            "missing columns pixel783",
        ),
        (lambda h, rows: (h + ",extra", [r + ",0" for r in rows]), "unexpected columns extra"),
        (lambda h, rows: (h.replace("pixel5,", "pixelX,"), rows), "pixel5"),
        (
            lambda h, rows: (h, [rows[0].replace(",0,", ",abc,", 1), *rows[1:]]),
            "non-integer value 'abc' at data row 1",
        ),
        (
            lambda h, rows: (h, [rows[0][: rows[0].rindex(",")] + ",", *rows[1:]]),
            "empty cell at data row 1, column pixel783",
        ),
        (
            lambda h, rows: (h, [rows[0][: rows[0].rindex(",")] + ",256", *rows[1:]]),
            "pixel values must be in 0..255, got 256 at data row 1, column pixel783",
        ),
        (
            lambda h, rows: (h, [rows[0][: rows[0].rindex(",")] + ",1.5", *rows[1:]]),
            "non-integer value '1.5'",
        ),
        (lambda h, rows: (h, ["12" + rows[0][1:], *rows[1:]]), "labels must be in 0..9, got 12"),
        (lambda h, rows: (h, []), "no data rows"),
    ],
    ids=[
        "missing-column",
        "extra-column",
        "misnamed",
        "text",
        "empty-cell",
        "pixel-256",
        "float-pixel",
        "label-12",
        "no-rows",
    ],
)
def test_malformed_kaggle_csv_names_the_problem(tmp_path, mutate, message):
    X, y = _digits(2)
    X[:, 1] = 0
    lines = [",".join(map(str, [label, *row])) for label, row in zip(y, X.tolist(), strict=True)]
    header, rows = mutate(HEADER, lines)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(DataError, match=message):
        data.load_kaggle_csv(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"\x1f\x8b\x08\x00garbage", "corrupt or truncated gzip")],
    ids=["empty", "bad-gzip"],
)
def test_unreadable_csv(tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        data.load_kaggle_csv(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.load_data(tmp_path / "nope.csv")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip-without-.gz-name"])
def test_idx_pair_round_trip_with_gzip_sniffed_by_content(tmp_path, compress):
    X, y = _digits(5)
    images, labels = _idx_bytes(X.reshape(5, 28, 28)), _idx_bytes(y)
    if compress:
        images, labels = gzip.compress(images), gzip.compress(labels)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)
    for got in (data.load_data(tmp_path), data.load_data(tmp_path / "train-images-idx3-ubyte")):
        np.testing.assert_array_equal(got.X, X)
        np.testing.assert_array_equal(got.y, y)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda b: b[:-10], "truncated: expected 3920 bytes of data, got 3910"),
        (lambda b: b + b"xx", "2 unexpected bytes after the data"),
        (lambda b: b"\x00\x00\x0d\x03" + b[4:], "data type 0x0d is not supported"),
        (lambda b: b"\x12\x34" + b[2:], "not an IDX file"),
        (lambda b: b[:9], "truncated IDX header"),
    ],
    ids=["truncated", "trailing", "float-type", "bad-magic", "short-header"],
)
def test_malformed_idx_names_the_problem(tmp_path, content, message):
    X, _ = _digits(5)
    path = tmp_path / "images"
    path.write_bytes(content(_idx_bytes(X.reshape(5, 28, 28))))
    with pytest.raises(DataError, match=message):
        data.read_idx(path)


def test_idx_label_count_mismatch(tmp_path):
    X, y = _digits(5)
    (tmp_path / "i").write_bytes(_idx_bytes(X.reshape(5, 28, 28)))
    (tmp_path / "l").write_bytes(_idx_bytes(y[:4]))
    with pytest.raises(DataError, match="4 labels for 5 images"):
        data.load_idx(tmp_path / "i", tmp_path / "l")


def test_idx_dir_without_files(tmp_path):
    with pytest.raises(DataError, match="no train-images-idx3-ubyte"):
        data.load_idx_dir(tmp_path)


def test_embedded_digits_are_real_balanced_and_read_only():
    ds = data.load_embedded()
    assert ds.X.shape == (5000, 784) and ds.X.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(ds.y), [500] * 10)
    assert 0.7 < np.mean(ds.X == 0) < 0.9  # handwritten strokes on a black background
    with pytest.raises(ValueError):
        ds.X[0, 0] = 1


@needs_fashion
@pytest.mark.parametrize(("split", "m"), [("train", 60000), ("test", 10000)])
def test_fashion_mnist(split, m):
    ds = data.load_fashion_mnist(split)
    assert ds.X.shape == (m, 784) and ds.X.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(ds.y), [m // 10] * 10)


def test_train_dev_split_is_a_seeded_partition():
    X = np.arange(50 * 784, dtype=np.int64).reshape(50, 784) % 256
    y = np.arange(50)
    _, y_train, X_dev, y_dev = data.train_dev_split(X, y, dev_size=10, seed=3)
    assert len(y_dev) == 10 and len(y_train) == 40
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_dev])), y)
    np.testing.assert_array_equal(X_dev, X[y_dev])
    again = data.train_dev_split(X, y, dev_size=10, seed=3)
    np.testing.assert_array_equal(again[3], y_dev)
    assert not np.array_equal(data.train_dev_split(X, y, dev_size=10, seed=4)[3], y_dev)
    with pytest.raises(ValueError, match="dev_size must be in 0..49"):
        data.train_dev_split(X, y, dev_size=50)


def test_scale_is_the_seeds_division():
    X = np.array([[0, 255, 51]], np.uint8)
    np.testing.assert_allclose(data.scale(X, np.float32), [[0, 1, 0.2]], rtol=1e-7)
    assert data.scale(X).dtype == np.float64


def test_seed_scale_matrix_from_a_small_source_is_deterministic_and_real():
    source = data.load_embedded()
    X, y = data.seed_scale_matrix(12000, seed=1, source=source)
    assert X.shape == (12000, 784) and X.dtype == np.uint8 and y.dtype == np.int64
    X2, y2 = data.seed_scale_matrix(12000, seed=1, source=source)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    # The first pass holds each source image once, unshifted, with its own label.
    first = {row.tobytes(): label for row, label in zip(source.X, source.y, strict=True)}
    assert all(first[row.tobytes()] == label for row, label in zip(X[:5000], y[:5000], strict=True))
    assert len({row.tobytes() for row in X}) > 11000  # repeats are shifted, not copies


def test_seed_scale_matrix_subset_of_a_large_source():
    X_src, y_src = _digits(300, seed=5)
    source = data.Dataset(X_src, y_src, "synthetic")
    X, y = data.seed_scale_matrix(100, seed=0, source=source)
    index = {row.tobytes(): i for i, row in enumerate(X_src)}
    rows = [index[row.tobytes()] for row in X]
    np.testing.assert_array_equal(y, y_src[rows])
    assert len(set(rows)) == 100
