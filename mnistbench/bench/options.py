"""The options of ``mnistbench bench`` and the command line of a re-executed child run.

The child run is the bench re-executed with its threads pinned.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistbench.cli._args import non_negative_float, positive_float
from mnistbench.reference.workloads import QUICK, SEED

from . import wide as wide_options
from .compare import SAME_WITHIN
from .measure import PAUSE

THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
BATCH_SIZES = (32, 128, 512)
PROCESSES = 3  # worker processes per system for the seed sections (what --compare reads)
ENGINE_CHOICES = ("numpy", "numba", "torch", "jax")


def thread_counts(text: str) -> list[int]:
    """``--threads`` value: one count, or a comma list (``1,2,4``) for a thread-scaling run."""
    counts = []
    for part in text.split(","):
        try:
            count = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a positive integer or a comma list like 1,2,4; got {part.strip()!r}"
            ) from None
        if count < 1:
            raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {count}")
        if count in counts:
            raise argparse.ArgumentTypeError(f"thread count {count} is listed twice")
        counts.append(count)
    return counts


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add every ``mnistbench bench`` option to ``parser``."""
    parser.add_argument("--quick", action="store_true", help="m=4,000 rows and fewer rounds")
    parser.add_argument(
        "--m",
        type=int,
        default=None,
        help=f"rows of the workload ({SEED.rows:,}; --quick: {QUICK.rows:,})",
    )
    parser.add_argument("--hidden", type=int, default=10, help="hidden units (10)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per case (7)")
    parser.add_argument(
        "--pause",
        type=non_negative_float,
        default=PAUSE,
        metavar="SECONDS",
        help="sleep before each timed call, so the previous case's thread pools "
        f"stop spinning (default: {PAUSE})",
    )
    parser.add_argument(
        "--threads",
        type=thread_counts,
        default=None,
        metavar="N[,N...]",
        help="threads (default: all cores); a list such as 1,2 runs each count "
        "in its own process and reports time and parallel efficiency",
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=ENGINE_CHOICES,
        default=list(ENGINE_CHOICES),
        metavar="ENGINE",
        help="systems to time, each in a process of its own: numpy (the reference and the "
        "notebook), numba (ours), torch (eager and torch.compile rows), jax (jax.jit + optax); "
        "peers not installed are left out with a note (default: %(default)s)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        metavar="NAME",
        help="only these registry variants (default: all)",
    )
    parser.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        default=list(BATCH_SIZES),
        metavar="B",
        help="mini-batch sizes of the seed mini-batch section (default: %(default)s)",
    )
    parser.add_argument("--no-minibatch", action="store_true", help="skip mini-batch epochs")
    parser.add_argument("--no-compile", action="store_true", help="skip JIT compile timing")
    wide_options.add_arguments(parser)
    parser.add_argument(
        "--augment",
        action="store_true",
        help="add the augmentation section: "
        "images/s vs scipy.ndimage, epoch time with it on and off",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines on stderr (the report still goes to stdout)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write a PNG")
    parser.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        default=None,
        metavar="JSON",
        help="OLD.json [NEW.json]: per-row ratio with a bootstrap 95%% interval "
        "(without NEW, this run is NEW)",
    )
    parser.add_argument(
        "--fail-above",
        type=positive_float,
        default=None,
        metavar="RATIO",
        help="with --compare: exit 1 when a row is slower than RATIO (e.g. "
        "1.10) with its whole interval above it",
    )
    parser.add_argument(
        "--same-within",
        type=non_negative_float,
        default=SAME_WITHIN,
        metavar="FRACTION",
        help="with --compare: the asked resolution: a change within it reads 'same', beyond it "
        "'slower'/'faster'; runs too noisy to tell read 'cannot resolve' (default: %(default)s)",
    )
    parser.add_argument(
        "--relative",
        action="store_true",
        help="with --compare: judge each row against the median ratio of all "
        "rows (a machine slower as a whole reads 'same')",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="time each seed case in N worker processes per system, rounds interleaved across "
        "them: processes of identical code differ by up to 40%% on a virtual machine, and "
        f"--compare needs that spread (default: {PROCESSES}, 1 with --quick)",
    )
    parser.add_argument(
        "--plant-slowdown",
        type=non_negative_float,
        default=0.0,
        metavar="FRACTION",
        help="calibration aid: every full-batch case does FRACTION more work (its step again on "
        "the first FRACTION of the rows; same results), to see what --compare says of a known "
        "slowdown (default: 0)",
    )
    parser.add_argument(
        "--calibrate-compare",
        action="store_true",
        help="measure --compare's verdicts on this machine: --pairs pairs of fresh runs per "
        "condition (idle, and beside a 1-thread CPU hog) of the same code and of planted "
        "10%%/25%% slowdowns; prints the table (--json writes it)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=20,
        metavar="N",
        help="with --calibrate-compare: pairs per cell (default: %(default)s)",
    )
    parser.add_argument(
        "--conditions",
        default="idle,hog",
        metavar="C[,C]",
        help="with --calibrate-compare: idle and/or hog (default: %(default)s)",
    )
    parser.add_argument(
        "--force", action="store_true", help="with --compare: compare results of different machines"
    )


def argv_of(args: argparse.Namespace, threads: int, outputs: bool = True) -> list[str]:
    """The command line of a child run pinned to ``threads``.

    With ``outputs``, it carries --json, --plot, --compare and its options too.
    """
    argv = ["--threads", str(threads), "--hidden", str(args.hidden)]
    argv += ["--engines", *args.engines, "--batch-sizes", *map(str, args.batch_sizes)]
    if args.variants:
        argv += ["--variants", *args.variants]
    for flag, value in (
        ("--m", args.m),
        ("--repeats", args.repeats),
        ("--pause", args.pause),
        ("--plant-slowdown", args.plant_slowdown),
        ("--processes", args.processes),
        ("--same-within", args.same_within),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.calibrate_compare:
        argv += ["--calibrate-compare", "--pairs", str(args.pairs), "--conditions", args.conditions]
    if outputs:
        for flag, value in (
            ("--json", args.json),
            ("--plot", args.plot),
            ("--fail-above", args.fail_above),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if args.compare:
            argv += ["--compare", *map(str, args.compare)]
        argv += [
            flag for flag, on in (("--force", args.force), ("--relative", args.relative)) if on
        ]
    no_compile = args.no_compile or not outputs  # thread scaling never times compilation
    argv += [
        flag
        for flag, on in (
            ("--quick", args.quick),
            ("--no-minibatch", args.no_minibatch),
            ("--quiet", args.quiet),
            ("--no-compile", no_compile),
            ("--augment", args.augment),
        )
        if on
    ]
    argv += wide_options.child_argv(args, outputs)
    return argv
