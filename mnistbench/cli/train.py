"""``mnistbench train``: fit the estimator on a data set, report accuracy, save model and plots."""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import augment
from ._args import (
    HelpFormatter,
    layer_widths,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from ._regularization_flags import add_regularization_flags, regularization_settings

EXIT_OK = 0
# --optimizer in the estimator's (scikit-learn's) terms.
_SOLVERS: dict[str, dict[str, Any]] = {
    "sgd": {"solver": "sgd", "momentum": 0.0},
    "momentum": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False},
    "adam": {"solver": "adam"},
}
# --lr's default per --optimizer, (full batch, mini-batch): SGD the seed's 0.1 full batch (a step
# follows the mean gradient of every row) and Keras's 0.01; momentum 0.9 makes steps 10x longer,
# so a tenth (1e-3: scikit-learn's sgd default, with momentum 0.9); Adam 1e-3 (sklearn, PyTorch).
DEFAULT_LR = {"sgd": (0.1, 0.01), "momentum": (0.01, 1e-3), "adam": (1e-3, 1e-3)}


def default_learning_rate(optimizer: str, full_batch: bool) -> float:
    """--lr when it is not given: :data:`DEFAULT_LR` for the optimizer and batch mode."""
    full, mini = DEFAULT_LR[optimizer]
    return full if full_batch else mini


def _lr_help() -> str:
    defaults = "; ".join(
        f"{name} {full:g} full batch, {mini:g} with --batch-size"
        if full != mini
        else f"{name} {full:g}"
        for name, (full, mini) in DEFAULT_LR.items()
    )
    return (
        f"learning rate (default: by --optimizer: {defaults}; full-batch sgd keeps the seed's "
        "0.1 because its steps follow the mean gradient of every row, momentum gets a tenth "
        "of sgd's because momentum 0.9 makes its steps 10x longer)"
    )


def add_parser(subparsers: Any) -> None:
    """Add the ``train`` subcommand and its flags."""
    parser = subparsers.add_parser(
        "train",
        help="train the network and report dev accuracy",
        description="Train an MLP (784 -> hidden layers -> 10 softmax). With no options: the "
        "seed run, 784 -> 10 ReLU -> 10, 500 full-batch iterations at learning rate 0.1 on the "
        "embedded 5,000 digits (4,000 train / 1,000 dev).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="Kaggle CSV, IDX file or IDX directory (default: the embedded 5,000 digits); an "
        "IDX directory that also holds t10k-* files gets its official test accuracy reported",
    )
    parser.add_argument(
        "--test-data",
        metavar="PATH",
        default=None,
        help="a labeled test set (Kaggle CSV, IDX file or directory) to report accuracy on",
    )
    parser.add_argument(
        "--engine",
        choices=("numba", "numpy"),
        default="numba",
        help="numba: the Numba kernels; numpy: the NumPy reference (slow, for comparison) "
        "(choices: %(choices)s; default: %(default)s)",
    )
    parser.add_argument(
        "--hidden",
        type=layer_widths,
        default=(10,),
        metavar="W[,W...]",
        help="hidden layer widths, e.g. 512,256 (default: 10, the seed's one layer)",
    )
    parser.add_argument(
        "--activation",
        choices=("relu", "leaky_relu", "tanh", "logistic", "gelu"),
        default="relu",
        help="hidden-layer activation",
    )
    parser.add_argument(
        "--init",
        choices=("seed", "he", "glorot"),
        default=None,
        help="initialisation (default: the seed's uniform +-0.5 for the seed network, "
        "784 -> 10 ReLU; He for the ReLU family otherwise, Glorot for the rest)",
    )
    parser.add_argument("--lr", type=positive_float, default=None, help=_lr_help())
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--iterations",
        dest="epochs",
        type=positive_int,
        default=500,
        help="passes over the training data (full-batch iterations)",
    )
    length.add_argument("--epochs", dest="epochs", type=positive_int, help="alias of --iterations")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="mini-batch size (default: full batch, the seed's gradient descent)",
    )
    parser.add_argument(
        "--optimizer",
        choices=("sgd", "momentum", "adam"),
        default="sgd",
        help="sgd: plain (stochastic) gradient descent, the seed's; momentum: heavy ball, "
        "momentum 0.9; adam: Adam (choices: %(choices)s; default: %(default)s)",
    )
    parser.add_argument(
        "--lr-schedule",
        choices=("constant", "step", "cosine"),
        default="constant",
        help="learning rate over the epochs: constant; step: halved after each quarter of the "
        "epochs; cosine: half a cosine down towards 0 (choices: %(choices)s; default: "
        "%(default)s)",
    )
    parser.add_argument("--l2", type=non_negative_float, default=0.0, help="L2 on weights")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="init and shuffling")
    parser.add_argument(
        "--log-interval",
        type=positive_int,
        default=None,
        help="epochs between log lines (default: 10 full batch, 1 with --batch-size)",
    )
    parser.add_argument(
        "--dev-size",
        type=non_negative_int,
        default=1000,
        help="rows held out for the dev set (fixed split, seed 0); 0 for none",
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="floating-point type of the weights and arithmetic; float32 is faster and takes "
        "half the memory (choices: %(choices)s; default: %(default)s)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="Numba threads (default: all)"
    )
    parser.add_argument(
        "--plots",
        metavar="DIR",
        type=Path,
        default=Path("plots"),
        help="where learning_curve.png, confusion_matrix.png and predictions.png go",
    )
    parser.add_argument("--no-plots", action="store_true", help="write no plots")
    parser.add_argument(
        "--save-model", metavar="PATH", type=Path, default=None, help="write the model (.npz)"
    )
    augment.add_flags(parser)
    add_regularization_flags(parser)
    parser.set_defaults(handler=run)


class _Progress:
    """Training progress: a tqdm bar on a terminal, plain log lines otherwise."""

    def __init__(self, epochs: int, tty: bool) -> None:
        self.epochs = epochs
        self.done = 0
        self.bar = None
        if tty:
            from tqdm import tqdm

            self.bar = tqdm(total=epochs, unit="epoch", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, epoch: int, loss: float, train_acc: float, dev_acc: float) -> None:
        dev = "n/a" if math.isnan(dev_acc) else f"{dev_acc:.4f}"
        if self.bar is not None:
            self.bar.set_postfix(
                loss=f"{loss:.4f}", train=f"{train_acc:.4f}", dev=dev, refresh=False
            )
            self.bar.update(epoch + 1 - self.done)
        else:
            width = len(str(self.epochs))
            print(
                f"epoch {epoch + 1:>{width}}/{self.epochs}  loss {loss:.4f}  "
                f"train acc {train_acc:.4f}  dev acc {dev}",
                flush=True,
            )
        self.done = epoch + 1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    if threads > limit:
        raise ValueError(f"--threads must be in 1..{limit} (NUMBA_NUM_THREADS), got {threads}")
    numba.set_num_threads(threads)


def run(args: argparse.Namespace) -> int:
    """Run ``mnistbench train``; returns the exit code."""
    from sklearn.exceptions import ConvergenceWarning

    from mnistbench.estimator import MLPClassifier
    from mnistbench.reference.data import load_data, train_dev_split
    from mnistbench.reference.model import N_CLASSES

    started = time.perf_counter()
    if args.lr is None:
        args.lr = default_learning_rate(args.optimizer, full_batch=args.batch_size is None)
    _set_threads(args.threads)
    augmentation = augment.settings(args)
    regularization = regularization_settings(args)
    if augmentation and args.batch_size is None:
        raise ValueError(
            "--augment needs --batch-size (mini-batches; full batch has no batches "
            "to augment one by one)"
        )
    _check_outputs(args)
    dataset = load_data(args.data, split="train")
    test = _test_set(args)
    if dataset.y is None:
        raise ValueError(f"{dataset.name} has no labels; training needs a labeled data set")
    m = len(dataset.y)
    if args.dev_size >= m:
        raise ValueError(f"--dev-size must be smaller than the {m} rows of {dataset.name}")
    if args.dev_size:
        X, y, X_dev, y_dev = train_dev_split(dataset.X, dataset.y, dev_size=args.dev_size, seed=0)
    else:
        X, y, X_dev, y_dev = dataset.X, dataset.y, None, None
    if args.batch_size is not None and args.batch_size > len(y):
        raise ValueError(f"--batch-size must be at most the {len(y)} training rows")
    log_interval = args.log_interval or (10 if args.batch_size is None else 1)
    batch_size = len(y) if args.batch_size is None else args.batch_size
    seed_network = args.hidden == (10,) and args.activation == "relu"
    model = MLPClassifier(
        hidden_layer_sizes=args.hidden,
        activation=args.activation,
        batch_size=batch_size,
        max_iter=args.epochs,
        **_SOLVERS[args.optimizer],
        learning_rate_init=args.lr,
        lr_schedule=args.lr_schedule,
        alpha=args.l2 * batch_size,  # --l2 is the kernels' l2 = alpha / batch_size
        random_state=args.seed,
        init=args.init or ("seed" if seed_network else "auto"),
        n_iter_no_change=args.epochs,  # --epochs N runs N epochs: no early convergence stop
        dtype=args.dtype,
        engine=args.engine,
        log_interval=log_interval,
        **augmentation,
        **regularization,
    )
    print(
        f"training on {len(y)} rows of {dataset.name} ({0 if y_dev is None else len(y_dev)} dev), "
        f"engine {args.engine}, {args.dtype}, hidden {','.join(map(str, args.hidden))} "
        f"{args.activation}, "
        f"batch {'full' if args.batch_size is None else args.batch_size}, "
        f"{args.optimizer} lr {args.lr:g} ({args.lr_schedule}), {args.epochs} epochs"
        + (f", {augment.describe(augmentation)}" if augmentation else "")
        + _describe(regularization),
        flush=True,
    )
    warm_seconds = _warm_up(args, model, X, y, X_dev, y_dev)
    progress = _Progress(args.epochs, tty=sys.stderr.isatty())
    model.set_params(callback=progress)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # every epoch asked for ran
            model.fit(X, y, classes=np.arange(N_CLASSES), X_dev=X_dev, y_dev=y_dev)
    finally:
        progress.close()
    train_pred = model.predict(X)
    train_loss = model.log_loss(X, y)
    dev_pred = None if X_dev is None else model.predict(X_dev)
    history = model.history_
    per_epoch = _seconds_per_epoch(history, model.fit_seconds_, args.epochs)
    unit = "iteration" if args.batch_size is None else "epoch"
    rows: list[tuple[str, str]] = []
    if dev_pred is not None:
        rows.append(("dev accuracy", f"{np.mean(dev_pred == y_dev):.4f}"))
    if test is not None:
        rows.append(("test accuracy", f"{model.score(test.X, test.y):.4f} ({test.name})"))
    rows += [
        ("train accuracy", f"{np.mean(train_pred == y):.4f}"),
        ("final loss", f"{train_loss:.4f} (train cross-entropy)"),
        (f"time per {unit}", f"{per_epoch * 1e3:.2f} ms"),
    ]
    if warm_seconds is not None:
        rows.append(
            (
                "JIT warm-up",
                f"{warm_seconds:.2f} s (Numba kernels compiled or loaded "
                "from the cache, before training)",
            )
        )
    rows.append(("training time", f"{model.fit_seconds_:.2f} s"))
    if args.save_model is not None:
        model.save(args.save_model)
        rows.append(("model saved", str(args.save_model)))
    if not args.no_plots:
        rows.append(("plots", str(_train_plots(args.plots, model, X, y, X_dev, y_dev))))
    rows.append(("total time", f"{time.perf_counter() - started:.2f} s (engine {args.engine})"))
    width = max(len(label) for label, _ in rows) + 2
    print("\n".join(f"{label + ':':<{width}}{value}" for label, value in rows))
    return EXIT_OK


def _warm_up(args: argparse.Namespace, model: Any, X, y, X_dev, y_dev) -> float | None:
    """Numba engine: compile or load each kernel the fit needs, noting compiles; seconds or None."""
    if args.engine != "numba":
        return None
    from mnistbench.reference.model import N_CLASSES

    from ._compiling import CompileNotice, warm_up

    with CompileNotice(args.dtype):
        return warm_up(model, X, y, np.arange(N_CLASSES), X_dev, y_dev)


def _describe(settings: dict[str, Any]) -> str:
    parts = []
    if "dropout" in settings:
        parts.append(f"dropout {settings['dropout']}")
    if settings["l1"]:
        parts.append(f"l1 {settings['l1']:g}")
    if settings["batch_norm"]:
        parts.append(f"batch norm (momentum {settings.get('bn_momentum', 0.1):g})")
    return "".join(f", {part}" for part in parts)


def _test_set(args: argparse.Namespace) -> Any:
    """--test-data, else the official t10k files beside an IDX training directory, else None."""
    from mnistbench.reference.data import load_data, load_idx_dir

    if args.test_data is not None:
        test = load_data(args.test_data, split="test")
        if test.y is None:
            raise ValueError(f"--test-data {args.test_data} has no labels to score against")
        return test
    directory = None if args.data is None else Path(args.data)
    if directory is not None and directory.is_dir() and any(directory.glob("t10k-*")):
        return load_idx_dir(directory, split="test")  # a damaged t10k file is an error
    return None


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before training, not after, when an output cannot be written where asked."""
    if args.save_model is not None:
        if args.save_model.is_dir():
            raise IsADirectoryError(f"--save-model {args.save_model} is a directory")
        if not args.save_model.parent.is_dir():
            raise FileNotFoundError(
                f"--save-model: directory {args.save_model.parent} does not exist"
            )
    if not args.no_plots and args.plots.exists() and not args.plots.is_dir():
        raise NotADirectoryError(f"--plots {args.plots} exists and is not a directory")


def _seconds_per_epoch(history: Any, fit_seconds: float, epochs: int) -> float:
    """Steady-state seconds per epoch: between the first and last logged epochs (after JIT)."""
    if len(history) >= 2 and history.step[-1] > history.step[0]:
        return (history.seconds[-1] - history.seconds[0]) / (history.step[-1] - history.step[0])
    return fit_seconds / epochs


def _train_plots(directory: Path, model: Any, X, y, X_dev, y_dev) -> Path:
    from mnistbench.reference import plots

    directory.mkdir(parents=True, exist_ok=True)
    X_show, y_show = (X, y) if X_dev is None else (X_dev, y_dev)
    y_pred = model.predict(X_show)
    plots.plot_learning_curve(model.history_, directory / "learning_curve.png")
    plots.plot_confusion_matrix(y_show, y_pred, directory / "confusion_matrix.png")
    plots.plot_predictions(X_show, y_pred, y_show, directory / "predictions.png")
    return directory
