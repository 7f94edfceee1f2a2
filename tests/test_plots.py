"""PNG outputs: real images, right counts, atomic writes."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from mnistbench.reference import model, plots
from mnistbench.reference.model import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_side: int = 200):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert min(image.shape[:2]) >= min_side
    assert image.std() > 0  # something was drawn


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (30, 784)).astype(np.uint8)
    return X, rng.integers(0, 10, 30), rng.integers(0, 10, 30)


def test_prediction_grid(tmp_path, digits):
    X, y_true, y_pred = digits
    _assert_png(plots.plot_predictions(X, y_pred, y_true, tmp_path / "sub" / "grid.png"))
    _assert_png(plots.plot_predictions(X, y_pred, None, tmp_path / "unlabeled.png", n=7))


def test_learning_curve(tmp_path):
    history = History()
    for step in range(5):
        history.append(step, 2.0 / (step + 1), 0.1 * step, 0.09 * step)
    _assert_png(plots.plot_learning_curve(history, tmp_path / "curve.png"))
    without_dev = History()
    without_dev.append(0, 1.0, 0.5)
    _assert_png(plots.plot_learning_curve(without_dev, tmp_path / "curve2.png"))


def test_confusion_matrix_counts_exactly():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    counts = plots.confusion_matrix(y_true, y_pred, n_classes=3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert counts.sum() == 6 and np.trace(counts) == 4


def test_confusion_matrix_png(tmp_path, digits):
    _, y_true, y_pred = digits
    _assert_png(plots.plot_confusion_matrix(y_true, y_pred, tmp_path / "cm.png"))


def test_failed_render_leaves_nothing_and_keeps_the_old_file(tmp_path, digits, monkeypatch):
    from matplotlib.figure import Figure

    X, y_true, y_pred = digits
    target = tmp_path / "grid.png"
    target.write_bytes(b"previous")

    def broken_savefig(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plots.plot_predictions(X, y_pred, y_true, target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def test_seed_test_prediction_returns_the_models_label(tmp_path, digits):
    X, y_true, _ = digits
    params = model.init_params(seed=1)
    expected = model.make_predictions(X / 255, params)[3]
    assert plots.test_prediction(3, params, X, y_true, tmp_path / "one.png") == expected
    _assert_png(tmp_path / "one.png", min_side=150)
    with pytest.raises(IndexError, match="index 30 is out of range"):
        plots.test_prediction(30, params, X)


def test_shape_and_length_checks(tmp_path, digits):
    X, y_true, y_pred = digits
    with pytest.raises(ValueError, match=r"X must be \(m, 784\)"):
        plots.plot_predictions(X[:, :783], y_pred, y_true, tmp_path / "x.png")
    with pytest.raises(ValueError, match="X has 30 rows but labels have 29"):
        plots.plot_predictions(X, y_pred[:29], y_true, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())
