"""PNG outputs: real images, right counts, atomic writes."""

from __future__ import annotations

import itertools

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


def _capture_figures(monkeypatch, module) -> list:
    """Figures ``module`` hands to save_png (still written), for reading their axes."""
    figures = []

    def keep(figure, path):
        figures.append(figure)
        return real(figure, path)

    real = module.save_png
    monkeypatch.setattr(module, "save_png", keep)
    return figures


def test_learning_curve_x_axis_is_the_epoch_the_log_prints(tmp_path, monkeypatch):
    figures = _capture_figures(monkeypatch, plots)
    history = History()
    for step in (0, 10, 20, 29):  # logged at epochs 1, 11, 21, 30 ("epoch 11/30" in the log)
        history.append(step, 2.0 / (step + 1), 0.03 * step, 0.025 * step)
    plots.plot_learning_curve(history, tmp_path / "curve.png")
    loss_ax, acc_ax = figures[0].axes[:2]
    assert loss_ax.get_xlabel() == acc_ax.get_xlabel() == "epoch"
    for line in [*loss_ax.get_lines(), *acc_ax.get_lines()]:
        np.testing.assert_array_equal(line.get_xdata(), [1, 11, 21, 30])


def _scaling_result(medians: dict[str, tuple[float, float]]) -> dict:
    rows = [
        {
            "section": "full_batch",
            "name": name,
            "dtype": "float32",
            "input_dtype": "float32",
            "median_ms": {"1": one, "2": two},
            "efficiency": {"1": 1.0, "2": one / (2 * two)},
        }
        for name, (one, two) in medians.items()
    ]
    return {
        "threads": [1, 2],
        "rows": rows,
        "workload": {"m": 41000, "hidden": 10},
        "machine": {"cpu": "test CPU"},
    }


# The README's 2026-11-28 thread-scaling run (ms per iteration at 1 and 2 threads): 10-81 ms.
README_RUN = {
    "notebook": (74.24, 49.41),
    "reference": (81.09, 51.37),
    "numba": (30.65, 19.19),
    "numba_fused": (23.26, 12.25),
    "numba_fused uint8": (17.84, 10.41),
}
WIDE_LABELS = ["0.5", "1", "2", "5", "10", "20", "50", "100", "200", "500", "1000", "2000", "5000"]


@pytest.mark.parametrize(
    ("medians", "labels"),
    [
        (README_RUN, ["10", "20", "50", "100"]),
        ({"narrow": (31.0, 42.0)}, ["20", "50"]),  # within one 1-2-5 step: still two labels
        ({"wide": (0.8, 3000.0)}, WIDE_LABELS),
    ],
    ids=["readme-run", "narrow", "wide"],
)
def test_scaling_plot_time_labels_do_not_overlap(medians, labels, tmp_path, monkeypatch):
    from mnistbench.bench import plot as bench_plot

    figures = _capture_figures(monkeypatch, bench_plot)
    _assert_png(bench_plot.plot_scaling(_scaling_result(medians), tmp_path / "scaling.png"))
    times = figures[0].axes[0]
    renderer = figures[0].canvas.get_renderer()
    low, high = times.get_ylim()
    shown = [
        label
        for tick, label in zip(
            [*times.yaxis.get_majorticklocs(), *times.yaxis.get_minorticklocs()],
            [*times.get_yticklabels(), *times.get_yticklabels(minor=True)],
            strict=True,
        )
        if label.get_text() and low <= tick <= high
    ]
    assert [label.get_text() for label in shown] == labels
    boxes = [label.get_window_extent(renderer) for label in shown]
    for below, above in itertools.pairwise(boxes):
        assert above.y0 >= below.y1, (below, above)  # each label clears the one below it
