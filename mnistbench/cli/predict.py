"""``mnistbench predict``: apply a saved model and write a Kaggle submission (ImageId,Label)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np

from ._args import HelpFormatter

EXIT_OK = 0


def add_parser(subparsers: Any) -> None:
    """Add the ``predict`` subcommand and its flags."""
    parser = subparsers.add_parser(
        "predict",
        help="predict labels, write a Kaggle submission",
        description="Predict the rows of --data with a saved model and write a Kaggle "
        "submission (ImageId,Label; ImageId from 1). Labeled data also gets its accuracy.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model", metavar="PATH", type=Path, required=True, help="model from --save-model"
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="Kaggle test.csv/train.csv, IDX file or directory (default: embedded digits)",
    )
    parser.add_argument(
        "--out", metavar="PATH", type=Path, default=Path("submission.csv"), help="submission CSV"
    )
    parser.add_argument(
        "--plots", metavar="DIR", type=Path, default=None, help="also write predictions.png here"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``mnistbench predict``; returns the exit code."""
    from mnistbench.estimator import MLPClassifier
    from mnistbench.reference.data import load_data
    from mnistbench.reference.files import atomic_write

    model = MLPClassifier.load(args.model)
    dataset = load_data(args.data, split="test")
    y_pred = model.predict(dataset.X)
    with atomic_write(args.out, "w") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["ImageId", "Label"])
        writer.writerows(zip(range(1, len(y_pred) + 1), y_pred.tolist(), strict=True))
    print(f"wrote {len(y_pred)} predictions for {dataset.name} to {args.out}")
    if dataset.y is not None:
        print(f"accuracy: {np.mean(y_pred == dataset.y):.4f}")
    if args.plots is not None:
        from mnistbench.reference import plots

        args.plots.mkdir(parents=True, exist_ok=True)
        path = plots.plot_predictions(dataset.X, y_pred, dataset.y, args.plots / "predictions.png")
        print(f"plot: {path}")
    return EXIT_OK
