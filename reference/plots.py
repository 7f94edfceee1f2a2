"""Plots written to PNG with matplotlib's Agg canvas (no GUI backend, no pyplot state).

Every function renders to a temporary file next to the target and renames it into place, so a
failed or interrupted render never leaves a partial PNG (nor replaces a good one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .files import atomic_write
from .model import SIDE, History, Params, forward_prop, get_predictions


def new_figure(width: float, height: float):
    """A matplotlib Figure of ``width`` x ``height`` inches on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG to ``path`` atomically (parent folders made); the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png")
    return path


def _check_images(X: np.ndarray, *label_arrays: np.ndarray | None) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != SIDE * SIDE:
        raise ValueError(f"X must be (m, 784) pixels, got shape {X.shape}")
    for labels in label_arrays:
        if labels is not None and len(labels) != len(X):
            raise ValueError(f"X has {len(X)} rows but labels have {len(labels)}")
    return X


def plot_predictions(
    X: np.ndarray,
    y_pred: np.ndarray,
    y_true: np.ndarray | None = None,
    path: str | Path = "predictions.png",
    *,
    n: int = 25,
    title: str | None = None,
) -> Path:
    """A grid of the first ``n`` digits titled "pred 7 / true 7"; wrong ones framed in red."""
    X = _check_images(X, y_pred, y_true)
    n = min(n, len(X))
    cols = int(np.ceil(np.sqrt(n))) or 1
    rows = max(1, int(np.ceil(n / cols)))
    figure = new_figure(1.6 * cols, 1.8 * rows + 0.4)
    for i in range(n):
        ax = figure.add_subplot(rows, cols, i + 1)
        ax.imshow(X[i].reshape(SIDE, SIDE), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        wrong = y_true is not None and y_pred[i] != y_true[i]
        text = f"pred {y_pred[i]}" + ("" if y_true is None else f" / true {y_true[i]}")
        ax.set_title(text, fontsize=8, color="red" if wrong else "black")
        if wrong:
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(2)
    if title is None and y_true is not None:
        wrong_count = int(np.sum(np.asarray(y_pred[:n]) != np.asarray(y_true[:n])))
        title = f"{n - wrong_count}/{n} correct"
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return save_png(figure, path)


def plot_before_after(
    before: np.ndarray,
    after: np.ndarray,
    path: str | Path = "augmented.png",
    *,
    labels: np.ndarray | None = None,
    cols: int = 8,
    title: str | None = None,
) -> Path:
    """Digits in pairs of rows: ``before`` (n, 784) above ``after`` (n, 784), ``cols`` a row.

    Pixels are drawn on one fixed scale (uint8 0..255 or floats 0..1), so contrast changes show.
    """
    before, after = _check_images(before, labels), _check_images(after, labels)
    if len(before) != len(after) or not len(before):
        raise ValueError(
            f"before and after must hold the same n >= 1 images, got {len(before)} and {len(after)}"
        )
    n, cols = len(before), max(1, min(cols, len(before)))
    blocks = -(-n // cols)
    figure = new_figure(1.2 * cols + 0.9, 2.5 * blocks + (0.5 if title else 0.1))
    for i in range(n):
        block, col = divmod(i, cols)
        for half, (images, name) in enumerate(((before, "before"), (after, "after"))):
            ax = figure.add_subplot(2 * blocks, cols, (2 * block + half) * cols + col + 1)
            high = 255 if images.dtype == np.uint8 else 1
            ax.imshow(images[i].reshape(SIDE, SIDE), cmap="gray_r", vmin=0, vmax=high)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
            if half == 0 and labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return save_png(figure, path)


def plot_learning_curve(history: History, path: str | Path = "learning_curve.png") -> Path:
    """Loss (log scale) and train/dev accuracy against the epoch, numbered from 1.

    Epochs are numbered as the training log numbers them (``epoch 11/500``; a full-batch epoch is
    one iteration).
    """
    if len(history) == 0:
        raise ValueError("history is empty: nothing to plot")
    epochs = np.asarray(history.step) + 1  # History.step counts from 0
    figure = new_figure(10, 4)
    loss_ax = figure.add_subplot(1, 2, 1)
    loss_ax.plot(epochs, history.loss, color="tab:blue")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("cross-entropy loss")
    loss_ax.grid(True, alpha=0.3)
    acc_ax = figure.add_subplot(1, 2, 2)
    acc_ax.plot(epochs, history.train_accuracy, label="train")
    if not np.all(np.isnan(history.dev_accuracy)):
        acc_ax.plot(epochs, history.dev_accuracy, label="dev")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(0, 1)
    acc_ax.grid(True, alpha=0.3)
    acc_ax.legend()
    figure.tight_layout()
    return save_png(figure, path)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int = 10) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; rows are true labels, columns predictions."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"{name} labels must be in 0..{n_classes - 1}")
    counts = np.bincount(n_classes * y_true + y_pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def plot_confusion_matrix(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    path: str | Path = "confusion_matrix.png",
    *,
    n_classes: int = 10,
) -> Path:
    """Annotated confusion matrix with the overall accuracy in the title."""
    counts = confusion_matrix(y_true, y_pred, n_classes)
    figure = new_figure(6, 5.5)
    ax = figure.add_subplot(1, 1, 1)
    image = ax.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=ax)
    threshold = counts.max() / 2 if counts.size else 0
    for (i, j), value in np.ndenumerate(counts):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > threshold else "black",
        )
    ax.set_xticks(range(n_classes))
    ax.set_yticks(range(n_classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = counts.sum()
    accuracy = np.trace(counts) / total if total else float("nan")
    ax.set_title(f"confusion matrix: accuracy {accuracy:.1%} of {total}")
    figure.tight_layout()
    return save_png(figure, path)


def test_prediction(
    index: int,
    params: Params,
    X: np.ndarray,
    Y: np.ndarray | None = None,
    path: str | Path = "prediction.png",
) -> int:
    """The seed's ``test_prediction``: predict row ``index`` of X, draw it, return the label.

    X: (m, 784) floats in [0, 1] or uint8 pixels (divided by 255 in the params' dtype).
    """
    X = _check_images(X, Y)
    if not -len(X) <= index < len(X):
        raise IndexError(f"index {index} is out of range for {len(X)} samples")
    image = X[index : index + 1] if index >= 0 else X[index:][:1]
    pixels = image.astype(params.dtype) / (255 if X.dtype == np.uint8 else 1)
    prediction = int(get_predictions(forward_prop(params, pixels).A2)[0])
    label = None if Y is None else int(Y[index])
    figure = new_figure(3, 3.3)
    ax = figure.add_subplot(1, 1, 1)
    ax.imshow(image.reshape(SIDE, SIDE), cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"prediction {prediction}" + ("" if label is None else f", label {label}"))
    save_png(figure, path)
    return prediction


test_prediction.__test__ = False  # type: ignore[attr-defined]  # a seed name, not a pytest test
