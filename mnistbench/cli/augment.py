"""``mnistbench augment``: a grid of real digits before and after augmentation.

Also the augmentation flags ``mnistbench train`` shares (``--augment affine,elastic,noise --rotate
DEG --scale F --shift PX --elastic-alpha A --elastic-sigma S --noise STD``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ._args import HelpFormatter, non_negative_float, non_negative_int, positive_int

EXIT_OK = 0
NAMES = ("affine", "elastic", "noise")
# flag -> (estimator parameter, family that uses it, help)
FLAGS = {
    "--rotate": ("rotate", "affine", "max rotation, degrees (0..180)"),
    "--scale": ("scale", "affine", "max zoom: factor in [1 - F, 1 + F] (0 <= F < 1)"),
    "--shift": ("shift", "affine", "max shift per axis, pixels (0..28)"),
    "--elastic-alpha": ("elastic_alpha", "elastic", "elastic field strength (0..1000)"),
    "--elastic-sigma": ("elastic_sigma", "elastic", "elastic field smoothness, pixels (0..28)"),
    "--noise": ("noise", "noise", "std of Gaussian pixel noise on the [0, 1] scale (0..1)"),
}


def names(text: str) -> tuple[str, ...]:
    """``--augment`` value: a comma list of affine, elastic, noise."""
    parts = [part.strip() for part in text.split(",")]
    bad = [part for part in parts if part not in NAMES]
    if bad:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of {', '.join(NAMES)}, got {bad[0]!r} in {text!r}"
        )
    return tuple(sorted(set(parts)))


def add_flags(parser: argparse.ArgumentParser, default: tuple[str, ...] | None = None) -> None:
    """The augmentation flags; each setting's default is the estimator's."""
    from mnistbench.estimator._augmenting import DEFAULTS

    group = parser.add_argument_group("augmentation (each training batch, on the fly)")
    listed = "none" if default is None else ",".join(default)
    group.add_argument(
        "--augment",
        metavar="LIST",
        type=names,
        default=default,
        help=f"comma list of affine, elastic, noise (default: {listed})",
    )
    for flag, (name, family, text) in FLAGS.items():
        group.add_argument(
            flag,
            type=non_negative_float,
            default=None,
            metavar="X",
            help=f"{family}: {text} (default: {DEFAULTS[name]:g})",
        )


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator's augmentation parameters from the flags, validated.

    A bad value raises ValueError naming the flag: a setting of a family ``--augment`` does not list
    is refused, not ignored.
    """
    from mnistbench.estimator._augmenting import DEFAULTS, config_for

    chosen = args.augment or ()
    for flag, (name, family, _) in FLAGS.items():
        if getattr(args, name) is not None and family not in chosen:
            raise ValueError(f"{flag} needs --augment with {family} in its list")
    values = {
        name: DEFAULTS[name] if getattr(args, name) is None else getattr(args, name)
        for name, _, _ in FLAGS.values()
    }
    if not chosen:
        return {}
    try:
        config_for(chosen, **values)
    except ValueError as error:
        raise ValueError(f"augmentation settings: {error}") from None
    return {"augment": ",".join(chosen), **values}


def describe(augment: dict[str, Any]) -> str:
    """One line: the families and their settings (``settings``' output)."""
    if not augment:
        return "no augmentation"
    chosen = augment["augment"].split(",")
    parts = [
        f"{flag[2:]} {augment[name]:g}"
        for flag, (name, family, _) in FLAGS.items()
        if family in chosen
    ]
    return f"augment {augment['augment']} ({', '.join(parts)})"


def add_parser(subparsers: Any) -> None:
    """Add the ``augment`` subcommand and its flags."""
    parser = subparsers.add_parser(
        "augment",
        help="draw real digits before and after augmentation",
        description="Draw a grid of real digits before and after augmentation, as training "
        "would see them in its first epoch, to see what the settings do.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--out", metavar="PATH", type=Path, required=True, help="PNG to write")
    parser.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="Kaggle CSV, IDX file or IDX directory (default: the embedded digits)",
    )
    parser.add_argument("--n", type=positive_int, default=16, help="digits to draw (<= 64)")
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="which digits, and the augmentation's draws",
    )
    add_flags(parser, default=NAMES)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``mnistbench augment``; returns the exit code."""
    from mnistbench.estimator._augmenting import config_for
    from mnistbench.kernels.augment import augment_batch
    from mnistbench.reference import plots
    from mnistbench.reference.data import load_data
    from mnistbench.reference.model import N_PIXELS

    chosen = settings(args)
    if args.n > 64:
        raise ValueError(f"--n must be at most 64, got {args.n}")
    if args.out.suffix.lower() != ".png":
        raise ValueError(f"--out must name a .png file, got {args.out}")
    if args.out.is_dir() or not args.out.parent.is_dir():
        raise FileNotFoundError(f"--out {args.out}: not a file in an existing directory")
    dataset = load_data(args.data, split="train")
    X = dataset.X
    if X.shape[1] != N_PIXELS:
        raise ValueError(f"{dataset.name} has {X.shape[1]} features, not 28x28 images")
    n = min(args.n, X.shape[0])
    rows = np.sort(np.random.default_rng(args.seed).choice(X.shape[0], n, replace=False))
    config = config_for(chosen["augment"], **{k: v for k, v in chosen.items() if k != "augment"})
    after = augment_batch(X, rows, seed=args.seed, epoch=0, config=config)
    labels = None if dataset.y is None else dataset.y[rows]
    title = f"{dataset.name}: {describe(chosen)}, seed {args.seed}, epoch 0"
    plots.plot_before_after(X[rows], after, args.out, labels=labels, title=title)
    print(f"wrote {args.out} ({n} digits, {describe(chosen)})")
    return EXIT_OK
