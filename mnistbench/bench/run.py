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

from mnistbench.reference.files import atomic_write

from .measure import (
    Case,
    bind_epoch,
    bind_step,
    measure_compile_times,
    measure_peaks,
)
from .plot import plot_report
from .report import format_report, summarize

THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
BATCH_SIZES = (32, 128, 512)
ENGINE_CHOICES = ("numpy", "numba", "torch")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="m=4,000 rows and fewer rounds")
    parser.add_argument("--m", type=int, default=None, help="rows of the workload (41,000)")
    parser.add_argument("--hidden", type=int, default=10, help="hidden units (10)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per case (7)")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    parser.add_argument(
        "--engines", nargs="+", choices=ENGINE_CHOICES, default=list(ENGINE_CHOICES)
    )
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=list(BATCH_SIZES))
    parser.add_argument("--no-minibatch", action="store_true", help="skip mini-batch epochs")
    parser.add_argument("--no-compile", action="store_true", help="skip JIT compile timing")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write a PNG")


def _pin_threads(threads: int) -> bool:
    """True when the environment already pins every pool to ``threads``."""
    return all(os.environ.get(name) == str(threads) for name in THREAD_VARIABLES)


def run(args: argparse.Namespace) -> int:
    threads = args.threads or os.cpu_count() or 1
    if args.threads is not None and args.threads < 1:
        print("error: --threads must be >= 1", file=sys.stderr)
        return 2
    if not _pin_threads(threads) and not os.environ.get("MNISTBENCH_BENCH_CHILD"):
        env = {**os.environ, "MNISTBENCH_BENCH_CHILD": "1"}
        env.update({name: str(threads) for name in THREAD_VARIABLES})
        argv = [sys.executable, "-m", "mnistbench.bench", *_argv_of(args, threads)]
        return subprocess.run(argv, env=env).returncode
    return _report(args, threads)


def _argv_of(args: argparse.Namespace, threads: int) -> list[str]:
    argv = ["--threads", str(threads), "--hidden", str(args.hidden)]
    argv += ["--engines", *args.engines, "--batch-sizes", *map(str, args.batch_sizes)]
    for flag, value in (("--m", args.m), ("--repeats", args.repeats)):
        if value is not None:
            argv += [flag, str(value)]
    for flag, value in (("--json", args.json), ("--plot", args.plot)):
        if value is not None:
            argv += [flag, str(value)]
    argv += [flag for flag, on in (("--quick", args.quick), ("--no-minibatch", args.no_minibatch),
                                   ("--no-compile", args.no_compile)) if on]  # fmt: skip
    return argv


def _report(args: argparse.Namespace, threads: int) -> int:
    import numba

    from mnistbench import torch_engine
    from mnistbench.reference.data import seed_scale_matrix
    from mnistbench.reference.model import init_params
    from mnistbench.variants import (
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

    cases: list[Case] = []
    for variant, factory in FULL_BATCH.items():
        engine = ENGINE_OF_VARIANT[variant]
        if engine not in engines:
            continue
        for dtype in (np.float64, np.float32):
            inputs = ["float"] + (["uint8"] if variant == "numba_fused" else [])
            if engine == "torch" and dtype == np.float64:
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
            if engine not in engines:
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
    for _ in range(repeats):
        for case in cases + minibatch:
            started = time.perf_counter()
            case.run()
            case.times.append(time.perf_counter() - started)

    compile_times = None if args.no_compile else measure_compile_times()
    result = summarize(cases, minibatch, peaks, compile_times, m, hidden, threads, repeats)
    print(format_report(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(args.json) as handle:
            handle.write(json.dumps(result, indent=2).encode())
        print(f"wrote {args.json}")
    if args.plot is not None:
        plot_report(result, args.plot)
        print(f"wrote {args.plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mnistbench.bench", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
