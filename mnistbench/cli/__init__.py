"""``mnistbench train | predict | bench | sweep | augment``: the command line.

Train, write Kaggle submissions, time, sweep, draw augmented digits.

Exit codes: 0 success; 2 usage or bad input (argparse errors, unreadable or invalid data or
model files, invalid options); 3 training diverged (no model or plot is written); 130
interrupted. Nothing is left half-written: models, submissions and plots are written to
temporary files that replace their targets only when complete.

Progress goes to stderr as a tqdm bar when stderr is a terminal, otherwise as one plain line
every ``--log-interval`` epochs on stdout; the final summary goes to stdout. ``train`` compiles
(or loads from Numba's on-disk cache) every kernel it needs before epoch 1; when that means
compiling, it says so on stderr (``compiling Numba kernels for float64 (...)...``, then
``compiled in 5.2 s``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence


def _interrupted_at_start() -> None:
    """Ctrl-C while the command line loads: one line, exit 130.

    Nothing is open yet; a plain exit from inside an import can still end in Python's own SIGINT
    exit.
    """
    print("mnistbench: interrupted", file=sys.stderr, flush=True)
    os._exit(130)


# Ctrl-C is held back while the commands (NumPy, Numba, pandas...) load, then acted on: raised
# inside a C extension's initialisation it can come out as another error (NumPy's import once
# ended in "TypeError: expected a message argument" and exit 1). Threads the imports start
# (OpenBLAS's) keep SIGINT blocked, so it goes to the main thread later.
_held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
try:
    from . import augment, bench, predict, sweep, train
except KeyboardInterrupt:
    _interrupted_at_start()
finally:  # also when an import fails: the caller's mask comes back
    if signal.SIGINT in signal.sigpending():  # pressed while loading (an ignored one is not)
        _interrupted_at_start()
    signal.pthread_sigmask(signal.SIG_SETMASK, _held)

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130

__all__ = ["EXIT_BAD_INPUT", "EXIT_DIVERGED", "EXIT_OK", "build_parser", "main"]


def _package_version() -> str:
    from mnistbench.model_files import package_version

    return package_version()


def build_parser(with_bench: bool = False) -> argparse.ArgumentParser:
    """The ``mnistbench`` parser; ``with_bench`` imports the bench module to add its options."""
    parser = argparse.ArgumentParser(
        prog="mnistbench",
        description="Train, apply and benchmark a from-scratch MNIST network on Numba kernels.",
        epilog="exit codes: 0 ok, 2 usage or bad input, 3 training diverged, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    commands = "{train,predict,bench,sweep,augment}"
    subparsers = parser.add_subparsers(dest="command", metavar=commands)
    subparsers.required = True
    train.add_parser(subparsers)
    predict.add_parser(subparsers)
    bench.add_parser(subparsers, with_options=with_bench)
    sweep.add_parser(subparsers)
    augment.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with_bench = bool(argv) and argv[0] == "bench"
    try:
        args = build_parser(with_bench=with_bench).parse_args(argv)
    except SystemExit as e:  # argparse: --help, --version (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _interrupted_at_start()
    if args.command == "bench":
        return args.handler(args)
    return _run_guarded(args)


def _run_guarded(args: argparse.Namespace) -> int:
    """Run train/predict, turning expected failures into a message and an exit code."""
    from mnistbench.reference.training import TrainingDiverged

    prog = f"mnistbench {args.command}"
    try:
        return args.handler(args)
    except TrainingDiverged as e:
        print(
            f"{prog}: error: {e}\nNo model or plot was written. Rerun with a smaller --lr "
            f"than {args.lr:g}, e.g. --lr {args.lr / 10:g}.",
            file=sys.stderr,
        )
        return EXIT_DIVERGED
    except (ValueError, TypeError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
