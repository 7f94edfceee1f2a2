"""``mnistbench sweep``: run a grid of estimator settings on Dask, or report on the results.

``mnistbench sweep GRID.toml [--set name=v1,v2 ...]`` runs every trial (embedded LocalCluster,
one process per core, unless ``--scheduler`` or ``--serial``) and appends each to ``--out`` as it
finishes; ``mnistbench sweep --report results.csv --plot pareto.png`` prints the best settings
and plots accuracy against training time. Dask and the sweep package load only when used.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from ._args import HelpFormatter, positive_int

EXIT_OK = 0
EXIT_TRIALS_LOST = 1
EXIT_BAD_INPUT = 2  # raised as ValueError/OSError, turned into the code by mnistbench.cli
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_OK: "every trial ran; one that failed by itself (diverged, say) is a row with an error",
    EXIT_TRIALS_LOST: "trials lost to the cluster (no worker for 20 s, or a trial's worker lost "
    "3 times); the finished trials' rows are kept, --resume runs the rest",
    EXIT_BAD_INPUT: "bad input, refused before any trial runs: grid, option, data, scheduler, or "
    "results file (exists without --resume, holds another grid, is being written by another "
    "sweep)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): the results file holds every finished trial, "
    "--resume continues it",
}
EPILOG = "exit codes:\n" + "".join(f"  {code:<3}  {says}\n" for code, says in EXIT_CODES.items())


class _Formatter(HelpFormatter):
    """Keeps the epilog's lines (the exit-code table), wrapping each under its own indent."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" not in text.strip():
            return super()._fill_text(text, width, indent)
        lines = []
        for line in text.splitlines():
            words = line.split(None, 1)
            hang = len(line) - len(words[1]) if len(words) == 2 and line[:1] == " " else 0
            lines.append(
                textwrap.fill(
                    line.strip(),
                    width,
                    initial_indent=indent + line[: len(line) - len(line.lstrip())],
                    subsequent_indent=indent + " " * hang,
                )
            )
        return "\n".join(lines)


def add_parser(subparsers: Any) -> None:
    """Add the ``sweep`` subcommand and its flags."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a hyper-parameter grid on Dask, or report on its results",
        description="Train every setting of a grid (TOML file and/or --set flags naming "
        "MLPClassifier parameters), in parallel on Dask, writing one row per trial.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("grid", nargs="?", metavar="GRID", help="TOML file with [grid], [sweep]")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=None,
        metavar="NAME=V1,V2",
        help="sweep a parameter over values (repeatable; overrides the file's [grid] entry)",
    )
    parser.add_argument(
        "--search",
        choices=("grid", "random"),
        default=None,
        help="full grid, or --trials random points (default: grid)",
    )
    parser.add_argument(
        "--trials", metavar="N", type=positive_int, default=None, help="random points"
    )
    parser.add_argument(
        "--repeat",
        metavar="K",
        type=positive_int,
        default=None,
        help="seeds per point (default: 1, or [sweep] repeat)",
    )
    parser.add_argument(
        "--include-seed",
        action="store_true",
        help="also run the seed notebook's setting (marked in the report and plot)",
    )
    parser.add_argument(
        "--search-seed", metavar="SEED", type=int, default=None, help="seed of random search"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="an existing Dask scheduler, tcp://host:8786",
    )
    where.add_argument(
        "--serial",
        action="store_true",
        help="run the trials one after another in this process (no Dask)",
    )
    parser.add_argument(
        "--exclusive",
        action="store_true",
        help="one trial per machine at a time, with all its cores: train_seconds for timing",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=positive_int,
        default=None,
        help="embedded cluster processes (default: one per core)",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        type=Path,
        default=None,
        help="results file, .parquet (needs pyarrow) or .csv "
        "(default: sweep-results.parquet, or .csv without pyarrow)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue --out, skipping the trials already in it"
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="with --resume, run the failed trials again"
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="Kaggle CSV, IDX file or IDX folder (default: the embedded digits)",
    )
    parser.add_argument(
        "--test-data",
        metavar="PATH",
        default=None,
        help="labeled official test set (default: t10k files of an IDX --data)",
    )
    parser.add_argument(
        "--dev-size",
        metavar="N",
        type=positive_int,
        default=1000,
        help="rows held out for dev accuracy (fixed split, seed 0)",
    )
    parser.add_argument(
        "--report",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        default=None,
        help="summarize results files instead of running a sweep",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        default=None,
        help="with --report: Pareto plot of accuracy against training time",
    )
    parser.add_argument(
        "--top", metavar="N", type=positive_int, default=10, help="settings in the report"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``mnistbench sweep`` (a sweep, or ``--report``); returns the exit code."""
    args.sets = args.sets or []
    if args.report is not None:
        if args.grid is not None or args.sets:
            raise ValueError("--report reads results files; give no GRID or --set with it")
        return _report(args)
    if args.plot is not None:
        raise ValueError("--plot goes with --report")
    if args.retry_failed and not args.resume:
        raise ValueError("--retry-failed goes with --resume")
    if args.workers is not None and (args.scheduler or args.serial or args.exclusive):
        raise ValueError(
            "--workers sizes the embedded cluster; not with --scheduler, --serial or --exclusive"
        )
    if args.exclusive and args.serial:
        raise ValueError("--serial already runs one trial at a time; drop --exclusive")
    from mnistbench.sweep import SweepOptions, load_grid, run_sweep
    from mnistbench.sweep.results import default_path

    if args.grid is None and not args.sets:
        raise ValueError("give a GRID file or --set NAME=V1,V2 (or --report RESULTS)")
    grid = load_grid(args.grid, args.sets).with_options(
        search=args.search,
        trials=args.trials,
        repeat=args.repeat,
        seed=args.search_seed,
        include_seed=args.include_seed or None,
    )
    options = SweepOptions(
        out=args.out or default_path(),
        resume=args.resume,
        retry_failed=args.retry_failed,
        data=args.data,
        test_data=args.test_data,
        dev_size=args.dev_size,
        scheduler=args.scheduler,
        workers=args.workers,
        serial=args.serial,
        exclusive=args.exclusive,
    )
    from mnistbench.sweep.interrupts import interrupts_noted

    with interrupts_noted() as ctrl_c:
        try:
            summary, results = run_sweep(grid, options)
        except KeyboardInterrupt:  # while the data loads or the cluster starts or closes
            _say_interrupted(options.out)
            return EXIT_INTERRUPTED
        except Exception:
            if not ctrl_c.is_set():
                raise
            # a Ctrl-C a library turned into its own error (pandas' reader of the data)
            _say_interrupted(options.out)
            return EXIT_INTERRUPTED
    ran = summary.done
    lost = f", {summary.lost} lost to the cluster" if summary.lost else ""
    print(
        f"{summary.total} trials: {ran} run ({summary.failed} failed){lost}, {summary.skipped} "
        f"already in {results.path}; trials took {summary.seconds:.1f} s after "
        f"{summary.warm_seconds:.1f} s of kernel warm-up",
        flush=True,
    )
    if summary.interrupted:
        _say_interrupted(results.path)
        return EXIT_INTERRUPTED
    if summary.lost:
        print(
            f"mnistbench sweep: {summary.lost} trials did not run: {summary.lost_reason}; "
            f"{results.path} holds every finished trial, rerun with --resume to run the rest",
            file=sys.stderr,
        )
        return EXIT_TRIALS_LOST
    return EXIT_OK


def _say_interrupted(out: Path) -> None:
    where = (
        f"{out} holds every finished trial, rerun with --resume to continue"
        if out.exists()
        else f"no trial finished, {out} was not written"
    )
    print(f"mnistbench sweep: interrupted; {where}", file=sys.stderr, flush=True)


def _report(args: argparse.Namespace) -> int:
    from mnistbench.sweep.params import seed_name
    from mnistbench.sweep.report import format_table, plot_pareto, summarize

    table, metric, setting = summarize(args.report, seed_name())
    print(format_table(table, metric, setting, top=args.top))
    if args.plot is not None:
        print(f"plot: {plot_pareto(table, metric, setting, args.plot)}")
    return EXIT_OK
