"""Running ``mnistbench bench``: options, thread pinning (by re-executing itself), orchestration."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mnistbench import jax_engine, torch_engine
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
from .isolated import Workers, process_facts, time_isolated
from .measure import PAUSE, Case, OtherLoad, measure_compile_times, measure_peaks
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
    parser.add_argument("--quick", action="store_true", help="m=4,000 rows and fewer rounds")
    parser.add_argument("--m", type=int, default=None, help="rows of the workload (41,000)")
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
                raise CompareError(
                    f"{args.compare[0]} is from another machine or thread count "
                    "(--force compares anyway): " + "; ".join(problems)
                )
        except CompareError as error:
            return _error(str(error))
    elif args.fail_above is not None or args.relative:
        return _error("--fail-above and --relative need --compare")
    for count in counts:
        if count > cores:
            print(
                f"warning: {count} threads on {cores} cores: the pools oversubscribe the CPU",
                file=sys.stderr,
            )
    if args.variants:
        from mnistbench.variants import FULL_BATCH, MINIBATCH

        unknown = sorted(set(args.variants) - set(FULL_BATCH) - set(MINIBATCH))
        if unknown:
            return _error(
                f"unknown variant(s) {', '.join(unknown)}; the registry has "
                f"{', '.join(sorted(set(FULL_BATCH) | set(MINIBATCH)))}"
            )
    if len(counts) > 1:
        return run_scaling(
            counts, lambda count: _argv_of(args, count, outputs=False), args.json, args.plot
        )
    threads = counts[0]
    if not _pin_threads(threads) and not os.environ.get("MNISTBENCH_BENCH_CHILD"):
        env = {**os.environ, "MNISTBENCH_BENCH_CHILD": "1"}
        env.update({name: str(threads) for name in THREAD_VARIABLES})
        argv = [sys.executable, "-m", "mnistbench.bench", *_argv_of(args, threads)]
        return subprocess.run(argv, env=env).returncode
    if args.calibrate_compare:
        return _calibrate(args, threads)
    return _report(args, threads)


def _calibrate(args: argparse.Namespace, threads: int) -> int:
    from .calibrate import CONDITIONS, calibrate, format_table

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown or not conditions:
        return _error(f"--conditions takes {' and/or '.join(CONDITIONS)}, got {args.conditions!r}")
    if args.pairs < 1:
        return _error(f"--pairs must be >= 1, got {args.pairs}")
    result = calibrate(
        threads,
        args.pairs,
        conditions,
        m=args.m or 41_000,
        hidden=args.hidden,
        repeats=args.repeats or 7,
        pause=args.pause,
        same_within=args.same_within,
        progress=progress_printer(args.quiet),
        processes=args.processes or PROCESSES,
    )
    print(format_table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(args.json) as handle:
            handle.write(json.dumps(result, indent=2).encode())
        print(f"wrote {args.json}")
    return 0


def _compare_and_report(old: dict, new: dict, args: argparse.Namespace, new_name: str) -> int:
    """Print the comparison; 2 when refused, 1 when ``--fail-above`` finds a regression."""
    try:
        rows, notes = compare(
            old, new, same_within=args.same_within, force=args.force, relative=args.relative
        )
    except CompareError as error:
        return _error(str(error))
    print(format_comparison(rows, notes, str(args.compare[0]), new_name, args.same_within))
    if args.fail_above is not None:
        failed = regressions(rows, args.fail_above)
        for row in failed:
            name = " ".join(row.key[1:])
            print(
                f"FAIL: {name} ({row.key[0]}) is {row.ratio:.2f}x the OLD time, interval "
                f"[{row.low:.2f}-{row.high:.2f}] above {args.fail_above}"
            )
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


def add_in_processes(
    workers, key: str, system: str, factory: str, processes: int, **kwargs
) -> list[str]:
    """Build case ``key`` in ``processes`` worker processes of ``system``; their keys."""
    keys = [key if replica == 0 else f"{key} #{replica}" for replica in range(processes)]
    for replica, name in enumerate(keys):
        workers.add(name, system, factory, replica=replica, **kwargs)
    return keys


def progress_printer(quiet: bool):
    """A ``progress(message)`` that writes ``[bench 12s] message`` lines to stderr (stdout keeps
    the report), or nothing with ``--quiet``."""
    started = time.perf_counter()

    def progress(message: str) -> None:
        if not quiet:
            print(
                f"[bench {time.perf_counter() - started:4.0f}s] {message}",
                file=sys.stderr,
                flush=True,
            )

    return progress


def _report(args: argparse.Namespace, threads: int) -> int:
    baseline = None  # read before anything is written: --json may name the same file
    if args.compare:
        try:
            baseline = load_result(args.compare[0])
        except CompareError as error:
            return _error(str(error))

    from mnistbench.reference.data import seed_scale_matrix
    from mnistbench.variants import (
        DTYPES_OF_VARIANT,
        ENGINE_OF_VARIANT,
        FULL_BATCH,
        MINIBATCH,
        system_of,
    )

    progress = progress_printer(args.quiet)
    engines = set(args.engines)
    for engine, available in (("torch", torch_engine.available()), ("jax", jax_engine.available())):
        if engine in engines and not available:
            print(
                f"note: {engine} is not installed; its rows are left out "
                "(pip install 'mnistbench[peers]')",
                file=sys.stderr,
            )
            engines.discard(engine)
    m = args.m or (4000 if args.quick else 41000)
    repeats = args.repeats or (3 if args.quick else 7)
    processes = args.processes or (1 if args.quick else PROCESSES)
    X8, _ = seed_scale_matrix(m, seed=0)
    n_in, hidden, n_out = X8.shape[1], args.hidden, 10
    flops = 4 * m * n_in * hidden + 6 * m * hidden * n_out
    progress("measuring the machine's peaks (matmul, copy)")
    peaks = measure_peaks(threads)  # NumPy only, before any worker process starts

    wanted = set(args.variants or set(FULL_BATCH) | set(MINIBATCH))
    seed = {"m": m, "hidden": hidden}
    with Workers(threads) as workers:
        cases: list[Case] = []
        for variant in FULL_BATCH:
            engine = ENGINE_OF_VARIANT[variant]
            if engine not in engines or variant not in wanted:
                continue
            for dtype in ("float64", "float32"):
                if dtype not in DTYPES_OF_VARIANT[variant]:
                    continue
                for kind in ["float"] + (["uint8"] if variant == "numba_fused" else []):
                    input_dtype = "uint8" if kind == "uint8" else dtype
                    progress(f"full batch: checking and warming {variant} {dtype} {kind}")
                    key = f"full_batch {variant} {dtype} {input_dtype}"
                    keys = add_in_processes(
                        workers,
                        key,
                        system_of(variant),
                        "mnistbench.bench.cases:seed_step",
                        processes,
                        variant=variant,
                        dtype=dtype,
                        input_dtype=input_dtype,
                        **seed,
                    )
                    nbytes = m * n_in * np.dtype(input_dtype).itemsize
                    cases.append(
                        Case(variant, engine, dtype, input_dtype, key, flops, nbytes, keys=keys)
                    )

        minibatch: list[Case] = []
        if not args.no_minibatch:
            combos = [("float64", "float64"), ("float32", "float32"), ("float32", "uint8")]
            for variant in MINIBATCH:
                engine = ENGINE_OF_VARIANT[variant]
                if engine not in engines or variant not in wanted:
                    continue
                for dtype, input_dtype in combos:
                    if dtype not in DTYPES_OF_VARIANT[variant] or (
                        input_dtype == "uint8" and engine != "numba"
                    ):
                        continue
                    for batch_size in args.batch_sizes:
                        progress(
                            f"mini-batch: checking and warming {variant} {dtype} "
                            f"{input_dtype} batch {batch_size}"
                        )
                        key = f"minibatch {variant} {dtype} {input_dtype} {batch_size}"
                        keys = add_in_processes(
                            workers,
                            key,
                            system_of(variant),
                            "mnistbench.bench.cases:seed_epoch",
                            processes,
                            variant=variant,
                            dtype=dtype,
                            input_dtype=input_dtype,
                            batch_size=batch_size,
                            **seed,
                        )
                        nbytes = m * n_in * np.dtype(input_dtype).itemsize
                        minibatch.append(
                            Case(
                                f"{variant} bs={batch_size}",
                                engine,
                                dtype,
                                input_dtype,
                                key,
                                flops,
                                nbytes,
                                keys=keys,
                            )
                        )

        keys = add_in_processes(
            workers, "calibration", "numba", "mnistbench.bench.cases:calibration", processes
        )
        calibration = Case("calibration", "numba", "float32", "float32", "calibration", keys=keys)
        timed = [*cases, *minibatch, calibration]
        progress(
            f"timing {len(timed)} cases x {repeats} rounds in {processes} process(es) per system"
        )
        load_before = os.getloadavg()[0]
        with OtherLoad(lambda: time.process_time() + workers.cpu_seconds()) as others:
            times = time_isolated(
                workers, [key for case in timed for key in case.keys], repeats, args.pause
            )
        for case in timed:
            case.times_by_process = [times[key] for key in case.keys]
            case.times = [t for samples in case.times_by_process for t in samples]
            case.process = workers.system_of(case.key)
        conditions = {
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "others_cpu": others.share,
        }
        processes = process_facts(workers)
        calibration_version = workers.builds["calibration"]["info"]["version"]
        augment = wide = None
        if args.augment:
            from .augment import run_section

            progress("augmentation section")
            augment = run_section(workers, repeats, args.pause)
        if args.widths:
            progress("wide/deep section")
            wide = wide_options.run_from_args(args, workers, repeats, peaks, progress)
        processes = process_facts(workers)

    compile_times = None
    if not args.no_compile:
        progress("compile times: fresh processes, cold and cached Numba cache (~20 s)")
        compile_times = measure_compile_times()
    layer = (processes.get("numba") or {}).get("numba_threading_layer")
    result = summarize(
        cases, minibatch, peaks, compile_times, m, hidden, threads, repeats, threading_layer=layer
    )
    result["conditions"] = conditions
    result["processes"] = processes
    result["calibration"] = {
        "version": calibration_version,
        "times_ms": [t * 1e3 for t in calibration.times],
        "times_ms_by_process": [[t * 1e3 for t in ts] for ts in calibration.times_by_process],
    }
    print(format_report(result))
    if augment is not None:
        from .augment import format_section

        result["augment"] = augment
        print("\n" + format_section(augment))
    if wide is not None:
        result["wide"] = wide
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
