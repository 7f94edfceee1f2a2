"""Running ``mnistbench bench``: options, thread pinning (by re-executing itself), orchestration."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from mnistbench.cli._args import non_negative_float, positive_float
from mnistbench.reference.files import atomic_write

from . import wide as wide_options
from .compare import (
    SAME_WITHIN,
    CompareError,
    compare,
    format_comparison,
    load_result,
    mismatches,
    regressions,
)
from .fingerprint import fingerprint
from .measure import (
    PAUSE,
    Case,
    OtherLoad,
    bind_epoch,
    bind_step,
    measure_compile_times,
    measure_peaks,
    time_rounds,
)
from .plot import plot_report
from .report import format_report, summarize
from .scaling import run_scaling

THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
BATCH_SIZES = (32, 128, 512)
ENGINE_CHOICES = ("numpy", "numba", "torch")


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
    parser.add_argument("--quick", action="store_true", help="m=4,000 rows and fewer rounds")
    parser.add_argument("--m", type=int, default=None, help="rows of the workload (41,000)")
    parser.add_argument("--hidden", type=int, default=10, help="hidden units (10)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per case (7)")
    parser.add_argument("--pause", type=non_negative_float, default=PAUSE, metavar="SECONDS",
                        help="sleep before each timed call, so the previous case's thread pools "
                        f"stop spinning (default: {PAUSE})")  # fmt: skip
    parser.add_argument("--threads", type=thread_counts, default=None, metavar="N[,N...]",
                        help="threads (default: all cores); a list such as 1,2 runs each count "
                        "in its own process and reports time and parallel efficiency")  # fmt: skip
    parser.add_argument(
        "--engines", nargs="+", choices=ENGINE_CHOICES, default=list(ENGINE_CHOICES)
    )
    parser.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                        help="only these registry variants (default: all)")  # fmt: skip
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=list(BATCH_SIZES))
    parser.add_argument("--no-minibatch", action="store_true", help="skip mini-batch epochs")
    parser.add_argument("--no-compile", action="store_true", help="skip JIT compile timing")
    wide_options.add_arguments(parser)
    parser.add_argument("--augment", action="store_true", help="add the augmentation section: "
                        "images/s vs scipy.ndimage, epoch time with it on and off")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write a PNG")
    parser.add_argument("--compare", nargs="+", type=Path, default=None, metavar="JSON",
                        help="OLD.json [NEW.json]: per-row ratio with a bootstrap 95%% interval "
                        "(without NEW, this run is NEW)")  # fmt: skip
    parser.add_argument("--fail-above", type=positive_float, default=None, metavar="RATIO",
                        help="with --compare: exit 1 when a row is slower than RATIO (e.g. "
                        "1.10) with its whole interval above it")  # fmt: skip
    parser.add_argument("--same-within", type=non_negative_float, default=SAME_WITHIN,
                        metavar="FRACTION", help="with --compare: noise band of 'same' "
                        f"(default: {SAME_WITHIN})")  # fmt: skip
    parser.add_argument("--relative", action="store_true",
                        help="with --compare: judge each row against the median ratio of all "
                        "rows (a machine slower as a whole reads 'same')")  # fmt: skip
    parser.add_argument("--force", action="store_true",
                        help="with --compare: compare results of different machines")  # fmt: skip


def _pin_threads(threads: int) -> bool:
    """True when the environment already pins every pool to ``threads``."""
    return all(os.environ.get(name) == str(threads) for name in THREAD_VARIABLES)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    counts = args.threads or [os.cpu_count() or 1]
    cores = os.cpu_count() or 1
    if args.compare is not None:
        if len(args.compare) > 2:
            return _error(f"--compare takes OLD.json [NEW.json], got {len(args.compare)} files")
        if len(counts) > 1:
            return _error("--compare and a list of --threads do not mix")
        try:
            results = [load_result(path) for path in args.compare]
            if len(results) == 2:
                return _compare_and_report(*results, args, str(args.compare[1]))
            here = {"machine": fingerprint(counts[0]), "workload": results[0].get("workload")}
            problems = mismatches(results[0], here)
            if problems and not args.force:
                raise CompareError(f"{args.compare[0]} is from another machine or thread count "
                                   "(--force compares anyway): " + "; ".join(problems))  # fmt: skip
        except CompareError as error:
            return _error(str(error))
    elif args.fail_above is not None or args.relative:
        return _error("--fail-above and --relative need --compare")
    for count in counts:
        if count > cores:
            print(f"warning: {count} threads on {cores} cores: the pools oversubscribe the CPU",
                  file=sys.stderr)  # fmt: skip
    if args.variants:
        from mnistbench.variants import FULL_BATCH, MINIBATCH

        unknown = sorted(set(args.variants) - set(FULL_BATCH) - set(MINIBATCH))
        if unknown:
            return _error(f"unknown variant(s) {', '.join(unknown)}; the registry has "
                          f"{', '.join(sorted(set(FULL_BATCH) | set(MINIBATCH)))}")  # fmt: skip
    if len(counts) > 1:
        return run_scaling(counts, lambda count: _argv_of(args, count, outputs=False),
                           args.json, args.plot)  # fmt: skip
    threads = counts[0]
    if not _pin_threads(threads) and not os.environ.get("MNISTBENCH_BENCH_CHILD"):
        env = {**os.environ, "MNISTBENCH_BENCH_CHILD": "1"}
        env.update({name: str(threads) for name in THREAD_VARIABLES})
        argv = [sys.executable, "-m", "mnistbench.bench", *_argv_of(args, threads)]
        return subprocess.run(argv, env=env).returncode
    return _report(args, threads)


def _compare_and_report(old: dict, new: dict, args: argparse.Namespace, new_name: str) -> int:
    """Print the comparison; 2 when refused, 1 when ``--fail-above`` finds a regression."""
    try:
        rows, notes = compare(old, new, same_within=args.same_within, force=args.force,
                              relative=args.relative)  # fmt: skip
    except CompareError as error:
        return _error(str(error))
    print(format_comparison(rows, notes, str(args.compare[0]), new_name, args.same_within))
    if args.fail_above is not None:
        failed = regressions(rows, args.fail_above)
        for row in failed:
            name = " ".join(row.key[1:])
            print(f"FAIL: {name} ({row.key[0]}) is {row.ratio:.2f}x the OLD time, interval "
                  f"[{row.low:.2f}-{row.high:.2f}] above {args.fail_above}")  # fmt: skip
        if failed:
            return 1
    return 0


def _argv_of(args: argparse.Namespace, threads: int, outputs: bool = True) -> list[str]:
    """The command line of a child run pinned to ``threads`` (``outputs``: --json, --plot,
    --compare and its options too)."""
    argv = ["--threads", str(threads), "--hidden", str(args.hidden)]
    argv += ["--engines", *args.engines, "--batch-sizes", *map(str, args.batch_sizes)]
    if args.variants:
        argv += ["--variants", *args.variants]
    for flag, value in (("--m", args.m), ("--repeats", args.repeats), ("--pause", args.pause)):
        if value is not None:
            argv += [flag, str(value)]
    if outputs:
        for flag, value in (("--json", args.json), ("--plot", args.plot),
                            ("--fail-above", args.fail_above)):  # fmt: skip
            if value is not None:
                argv += [flag, str(value)]
        if args.compare:
            argv += ["--compare", *map(str, args.compare), "--same-within", str(args.same_within)]
        argv += [flag for flag, on in (("--force", args.force), ("--relative", args.relative))
                 if on]  # fmt: skip
    no_compile = args.no_compile or not outputs  # thread scaling never times compilation
    argv += [flag for flag, on in (("--quick", args.quick), ("--no-minibatch", args.no_minibatch),
                                   ("--no-compile", no_compile),
                                   ("--augment", args.augment)) if on]  # fmt: skip
    argv += wide_options.child_argv(args, outputs)
    return argv


def _report(args: argparse.Namespace, threads: int) -> int:
    import numba

    baseline = None  # read before anything is written: --json may name the same file
    if args.compare:
        try:
            baseline = load_result(args.compare[0])
        except CompareError as error:
            return _error(str(error))

    from mnistbench import torch_engine
    from mnistbench.reference.data import seed_scale_matrix
    from mnistbench.reference.model import init_params
    from mnistbench.variants import (
        DTYPES_OF_VARIANT,
        ENGINE_OF_VARIANT,
        FULL_BATCH,
        MINIBATCH,
        check_against_reference,
    )

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    engines = set(args.engines)
    if "torch" in engines and not torch_engine.available():
        print("note: PyTorch is not installed; torch engines skipped", file=sys.stderr)
        engines.discard("torch")
    if "torch" in engines:
        import torch

        torch.set_num_threads(threads)
    m = args.m or (4000 if args.quick else 41000)
    repeats = args.repeats or (3 if args.quick else 7)
    X8, Y = seed_scale_matrix(m, seed=0)
    n_in, hidden, n_out = X8.shape[1], args.hidden, 10
    flops = 4 * m * n_in * hidden + 6 * m * hidden * n_out
    peaks = measure_peaks(threads)

    wanted = set(args.variants or set(FULL_BATCH) | set(MINIBATCH))
    cases: list[Case] = []
    for variant, factory in FULL_BATCH.items():
        engine = ENGINE_OF_VARIANT[variant]
        if engine not in engines or variant not in wanted:
            continue
        for dtype in (np.float64, np.float32):
            inputs = ["float"] + (["uint8"] if variant == "numba_fused" else [])
            if np.dtype(dtype).name not in DTYPES_OF_VARIANT[variant]:
                continue
            for kind in inputs:
                X = X8 if kind == "uint8" else (X8 / dtype(255)).astype(dtype)
                params = init_params(hidden, n_in, seed=0, dtype=dtype)
                check_against_reference(variant, params, X, Y)
                step = factory(params, X, Y)
                cases.append(Case(variant, engine, np.dtype(dtype).name, X.dtype.name,
                                  bind_step(step, params), flops, X.nbytes))  # fmt: skip

    minibatch: list[Case] = []
    if not args.no_minibatch:
        order = np.random.default_rng(0).permutation(m)
        for variant, factory in MINIBATCH.items():
            engine = ENGINE_OF_VARIANT[variant]
            if engine not in engines or variant not in wanted:
                continue
            combos = [(np.float64, "float"), (np.float32, "float"), (np.float32, "uint8")]
            for dtype, kind in combos:
                if (engine != "numba" and kind == "uint8") or (
                    engine == "torch" and dtype == np.float64
                ):
                    continue
                X = X8 if kind == "uint8" else (X8 / dtype(255)).astype(dtype)
                params = init_params(hidden, n_in, seed=0, dtype=dtype)
                epoch = factory(params, X, Y)
                epoch(params, order[: min(m, 1000)], 32, 0.01)  # warm the JIT
                for batch_size in args.batch_sizes:
                    minibatch.append(Case(f"{variant} bs={batch_size}", engine,
                                          np.dtype(dtype).name, X.dtype.name,
                                          bind_epoch(epoch, params, order, batch_size),
                                          flops, X.nbytes))  # fmt: skip

    for case in cases + minibatch:
        case.run()  # one untimed round each: caches, allocator, thread pools
    load_before = os.getloadavg()[0]
    with OtherLoad() as others:
        time_rounds(cases + minibatch, repeats, args.pause)
    conditions = {"load_before": load_before, "load_after": os.getloadavg()[0],
                  "others_cpu": others.share}  # fmt: skip

    compile_times = None if args.no_compile else measure_compile_times()
    result = summarize(cases, minibatch, peaks, compile_times, m, hidden, threads, repeats)
    result["conditions"] = conditions
    print(format_report(result))
    if args.augment:
        from .augment import format_section, run_section

        result["augment"] = run_section(threads, repeats)
        print("\n" + format_section(result["augment"]))
    if args.widths:
        result["wide"] = wide_options.run_from_args(args, threads, repeats, peaks)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(args.json) as handle:
            handle.write(json.dumps(result, indent=2).encode())
        print(f"wrote {args.json}")
    if args.plot is not None:
        plot_report(result, args.plot)
        print(f"wrote {args.plot}")
    if baseline is not None:
        print()
        return _compare_and_report(baseline, result, args, "this run")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mnistbench.bench", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
