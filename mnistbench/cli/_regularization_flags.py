"""``mnistbench train``'s regularisation flags and the estimator settings they make.

The flags: --dropout, --l1, --batch-norm, --bn-momentum.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._args import bounded, non_negative_float


def _rates(text: str) -> tuple[float, ...]:
    rates = tuple(float(part) for part in text.split(","))
    if not all(0 <= rate < 1 for rate in rates):  # NaN fails too
        raise ValueError(text)
    return rates


def add_regularization_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("regularisation (besides --l2)")
    group.add_argument(
        "--dropout",
        type=bounded(_rates, bool, "rates in [0, 1), e.g. 0.2 or 0.2,0.1"),
        default=None,
        metavar="RATE[,RATE...]",
        help="inverted dropout after each hidden layer: one rate, or one per hidden layer "
        "(off at prediction)",
    )
    group.add_argument(
        "--l1",
        type=non_negative_float,
        default=0.0,
        help="L1 on weights: adds l1 * sum |W| to each batch's loss",
    )
    group.add_argument(
        "--batch-norm",
        action="store_true",
        help="batch-normalise every hidden layer (running statistics at "
        "prediction, saved in the model)",
    )
    group.add_argument(
        "--bn-momentum",
        default=None,
        metavar="M",
        type=bounded(float, lambda v: 0 < v < 1, "a momentum in (0, 1)"),
        help="batch norm's running-statistics momentum (default: 0.1; needs --batch-norm)",
    )


def regularization_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator's dropout, l1, batch_norm, bn_momentum from the flags.

    Raises ValueError naming the flag when they do not fit together or with --hidden.
    """
    settings: dict[str, Any] = {"l1": args.l1, "batch_norm": args.batch_norm}
    if args.bn_momentum is not None:
        if not args.batch_norm:
            raise ValueError("--bn-momentum needs --batch-norm")
        settings["bn_momentum"] = args.bn_momentum
    if args.dropout is not None:
        if len(args.dropout) not in (1, len(args.hidden)):
            rates = ",".join(map(str, args.dropout))
            raise ValueError(
                f"--dropout needs one rate or one per hidden layer "
                f"({len(args.hidden)}), got {rates}"
            )
        settings["dropout"] = args.dropout[0] if len(args.dropout) == 1 else args.dropout
    return settings
