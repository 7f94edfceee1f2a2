"""Running ``mnistbench bench``: thread pinning (by re-executing itself), orchestration.

The options are in :mod:`.options`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from mnistbench import jax_engine, torch_engine
from mnistbench.reference.files import atomic_write
from mnistbench.reference.workloads import QUICK, SEED

from . import wide as wide_options
from .compare import (
    CompareError,
    compare,
    format_comparison,
    load_result,
    mismatches,
    regressions,
)
from .fingerprint import fingerprint
from .isolated import Workers, process_facts, time_isolated
from .measure import Case, OtherLoad, measure_compile_times, measure_peaks
from .options import (
    PROCESSES,
    THREAD_VARIABLES,
    argv_of,
    configure_parser,
)
from .plot import plot_report
from .report import format_report, summarize
from .scaling import run_scaling


def _pin_threads(threads: int) -> bool:
    """True when the environment already pins every pool to ``threads``."""
    return all(os.environ.get(name) == str(threads) for name in THREAD_VARIABLES)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run ``mnistbench bench`` with parsed options; returns the exit code."""
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
                return _compare_and_report(results[0], results[1], args, str(args.compare[1]))
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
        from mnistbench.bench.variants import FULL_BATCH, MINIBATCH

        unknown = sorted(set(args.variants) - set(FULL_BATCH) - set(MINIBATCH))
        if unknown:
            return _error(
                f"unknown variant(s) {', '.join(unknown)}; the registry has "
                f"{', '.join(sorted(set(FULL_BATCH) | set(MINIBATCH)))}"
            )
    if len(counts) > 1:
        return run_scaling(
            counts, lambda count: argv_of(args, count, outputs=False), args.json, args.plot
        )
    threads = counts[0]
    if not _pin_threads(threads) and not os.environ.get("MNISTBENCH_BENCH_CHILD"):
        env = {**os.environ, "MNISTBENCH_BENCH_CHILD": "1"}
        env.update({name: str(threads) for name in THREAD_VARIABLES})
        argv = [sys.executable, "-m", "mnistbench.bench", *argv_of(args, threads)]
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
        m=args.m or SEED.rows,
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


def add_in_processes(
    workers, key: str, system: str, factory: str, processes: int, **kwargs
) -> list[str]:
    """Build case ``key`` in ``processes`` worker processes of ``system``; their keys."""
    keys = [key if replica == 0 else f"{key} #{replica}" for replica in range(processes)]
    for replica, name in enumerate(keys):
        workers.add(name, system, factory, replica=replica, **kwargs)
    return keys


def progress_printer(quiet: bool):
    """A ``progress(message)`` that writes ``[bench 12s] message`` lines to stderr.

    stdout keeps the report. With ``--quiet`` it writes nothing.
    """
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

    from mnistbench.bench.variants import (
        DTYPES_OF_VARIANT,
        ENGINE_OF_VARIANT,
        FULL_BATCH,
        MINIBATCH,
        system_of,
    )
    from mnistbench.reference.data import seed_scale_matrix

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
    m = args.m or (QUICK if args.quick else SEED).rows
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
                    input_dtype: str = "uint8" if kind == "uint8" else dtype
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
    """Entry point of ``python -m mnistbench.bench``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="mnistbench.bench", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
