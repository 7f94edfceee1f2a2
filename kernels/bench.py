"""``mnistbench bench``: NumPy, Numba and PyTorch (where installed) side by side, seed workload.

Everything is measured in one process with threads pinned, JIT warmed up and each engine checked
against the reference before it is timed; rounds are interleaved (every case once per round) so
drift on a shared machine hits all cases alike. Reported per case: median and spread of the time,
speedups against the reference float64 and against PyTorch, achieved GFLOP/s and GB/s, and the
fraction of the roofline floor, where

* FLOPs per full-batch iteration are counted from the shapes: ``4 m n_in h + 6 m h n_out``
  (forward layer 1 and dW1: ``2 m n_in h`` each; layer 2, dW2 and dZ1: ``2 m h n_out`` each);
* bytes are one read of X in the case's input dtype (what a fused kernel must move);
* peak FLOP/s is measured on the spot with a large matmul in the case's dtype, peak bandwidth with
  a STREAM-like copy; the floor is ``max(FLOPs / peak, bytes / bandwidth)``.

Thread pinning has to happen before NumPy and Numba start their pools, so ``run`` re-executes the
command once with ``NUMBA_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/
``MKL_NUM_THREADS`` set when they do not already match ``--threads``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mnistbench.reference.files import atomic_write

THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
BATCH_SIZES = (32, 128, 512)
ENGINES = ("numpy", "numba", "torch")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="m=4,000 rows and fewer rounds")
    parser.add_argument("--m", type=int, default=None, help="rows of the workload (41,000)")
    parser.add_argument("--hidden", type=int, default=10, help="hidden units (10)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per case (7)")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=list(BATCH_SIZES))
    parser.add_argument("--no-minibatch", action="store_true", help="skip mini-batch epochs")
    parser.add_argument("--no-compile", action="store_true", help="skip JIT compile timing")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write a PNG")


@dataclass
class Case:
    """One timed workload: a variant of the registry on one dtype and input kind."""

    name: str
    engine: str
    dtype: str
    input_dtype: str
    run: Callable[[], object] = field(repr=False)
    flops: float = 0.0
    bytes: float = 0.0
    times: list[float] = field(default_factory=list)


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
        argv = [sys.executable, "-m", "mnistbench.kernels.bench", *_argv_of(args, threads)]
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

    from mnistbench.reference.data import seed_scale_matrix
    from mnistbench.reference.model import init_params

    from . import torch_engine
    from .variants import ENGINE, FULL_BATCH, MINIBATCH

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
    peaks = _measure_peaks(threads)

    cases: list[Case] = []
    for variant, factory in FULL_BATCH.items():
        engine = ENGINE[variant]
        if engine not in engines:
            continue
        for dtype in (np.float64, np.float32):
            inputs = ["float"] + (["uint8"] if variant == "numba_fused" else [])
            if engine == "torch" and dtype == np.float64:
                continue
            for kind in inputs:
                X = X8 if kind == "uint8" else (X8 / dtype(255)).astype(dtype)
                params = init_params(hidden, n_in, seed=0, dtype=dtype)
                check_against_reference(factory, params, X, X8, Y, dtype)
                step = factory(params, X, Y)
                cases.append(Case(variant, engine, np.dtype(dtype).name, X.dtype.name,
                                  _bind(step, params), flops, X.nbytes))  # fmt: skip

    minibatch: list[Case] = []
    if not args.no_minibatch:
        order = np.random.default_rng(0).permutation(m)
        for variant, factory in MINIBATCH.items():
            engine = ENGINE[variant]
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
                                          _bind_epoch(epoch, params, order, batch_size),
                                          flops, X.nbytes))  # fmt: skip

    for case in cases + minibatch:
        case.run()  # one untimed round each: caches, allocator, thread pools
    for _ in range(repeats):
        for case in cases + minibatch:
            started = time.perf_counter()
            case.run()
            case.times.append(time.perf_counter() - started)

    compile_times = None if args.no_compile else measure_compile_times()
    result = _summarize(cases, minibatch, peaks, compile_times, m, hidden, threads, repeats)
    print(format_report(result))
    if args.json is not None:
        _write_atomically(args.json, json.dumps(result, indent=2).encode())
        print(f"wrote {args.json}")
    if args.plot is not None:
        plot_report(result, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _bind(step, params):
    return lambda: step(params, 0.1)


def _bind_epoch(epoch, params, order, batch_size):
    return lambda: epoch(params, order, batch_size, 0.01)


# (atol, rtol) for one step against the reference, per compute dtype (as in tests/conftest.py).
CHECK_TOL = {"float64": (1e-10, 1e-8), "float32": (1e-4, 1e-3)}


def check_against_reference(factory, params, X, X8, Y, dtype) -> None:
    """Refuse to time a variant whose step disagrees with the reference on 2,000 rows."""
    from mnistbench.reference import training as ref_training

    from .variants import FULL_BATCH

    rows = slice(0, min(len(Y), 2000))
    X_ref = ref_training.as_float(X8[rows], dtype)
    expected, expected_loss = FULL_BATCH["reference"](params, X_ref, Y[rows])(params, 0.1)
    got, loss = factory(params, X[rows], Y[rows])(params, 0.1)
    atol, rtol = CHECK_TOL[np.dtype(dtype).name]
    names = ("W1", "b1", "W2", "b2", "loss")
    for name, g, e in zip(names, [*got, loss], [*expected, expected_loss], strict=True):
        if not np.allclose(g, e, atol=atol, rtol=rtol):
            raise RuntimeError(
                f"refusing to time a wrong kernel: {name} differs from the reference"
            )


def _measure_peaks(threads: int) -> dict[str, float]:
    """Peak matmul GFLOP/s per dtype and copy bandwidth in GB/s, best of a few tries."""
    peaks: dict[str, float] = {}
    n = 2048
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        a = rng.random((n, n)).astype(dtype)
        b = rng.random((n, n)).astype(dtype)
        a @ b
        best = min(_seconds(lambda a=a, b=b: a @ b) for _ in range(5))
        peaks[f"gflops_{np.dtype(dtype).name}"] = 2 * n**3 / best / 1e9
    src = np.ones(64 * 2**20 // 8)  # 64 MiB, far beyond the caches
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_seconds(lambda: np.copyto(dst, src)) for _ in range(5))
    peaks["copy_gbps"] = 2 * src.nbytes / best / 1e9  # read + write
    return peaks


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


COMPILE_PROBE = """
import json, sys, time
import numpy as np
started = time.perf_counter()
from mnistbench import kernels
from mnistbench.reference.model import init_params
times = {"import": time.perf_counter() - started}
rng = np.random.default_rng(0)
X8 = rng.integers(0, 256, (64, 784)).astype(np.uint8)
Y = rng.integers(0, 10, 64)
for name, dtype, X in (("float64", np.float64, X8 / 255.0),
                       ("float32", np.float32, (X8 / 255.0).astype(np.float32)),
                       ("uint8->float32", np.float32, X8)):
    started = time.perf_counter()
    kernels.train(X, Y, kernels.TrainConfig(epochs=1, batch_size=16, dtype=np.dtype(dtype).name))
    kernels.fused_step(init_params(10, seed=0, dtype=dtype), X, Y, 0.1)
    kernels.make_predictions(X, init_params(10, seed=0, dtype=dtype))
    times[name] = time.perf_counter() - started
print(json.dumps(times))
"""


def measure_compile_times() -> dict[str, dict[str, float]]:
    """Seconds to first result per dtype in fresh processes: cold (no cache) and cached.

    Each includes compiling everything a training run and a prediction use for that dtype.
    """

    def probe(env: dict[str, str]) -> dict[str, float]:
        out = subprocess.run([sys.executable, "-c", COMPILE_PROBE], capture_output=True,
                             text=True, check=True, env={**os.environ, **env})  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as cache_dir:
        cold = probe({"MNISTBENCH_NUMBA_CACHE": "0"})
        probe({"NUMBA_CACHE_DIR": cache_dir})  # populate a private cache
        cached = probe({"NUMBA_CACHE_DIR": cache_dir})
    return {"cold": cold, "cached": cached}


def _stats(times: list[float]) -> dict[str, float]:
    ms = np.array(times) * 1e3
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": median, "min_ms": ms.min(), "max_ms": ms.max(), "iqr_ms": q3 - q1}


def _summarize(cases, minibatch, peaks, compile_times, m, hidden, threads, repeats) -> dict:
    import numba

    from mnistbench.kernels import _jit  # noqa: F401  (threading layer needs a parallel run)

    rows = []
    reference = next((c for c in cases if c.name == "reference" and c.dtype == "float64"), None)
    torch_case = next((c for c in cases if c.name == "torch" and c.dtype == "float32"), None)
    for case in cases:
        stats = _stats(case.times)
        seconds = stats["median_ms"] / 1e3
        compute_floor = case.flops / (peaks[f"gflops_{case.dtype}"] * 1e9)
        memory_floor = case.bytes / (peaks["copy_gbps"] * 1e9)
        floor = max(compute_floor, memory_floor)
        rows.append({
            **{k: v for k, v in asdict(case).items() if k not in ("run", "times")},
            **stats,
            "times_ms": [t * 1e3 for t in case.times],
            "gflops": case.flops / seconds / 1e9,
            "gbps": case.bytes / seconds / 1e9,
            "floor_ms": floor * 1e3,
            "roofline_fraction": floor / seconds,
            "speedup_vs_reference_f64": _ratio(reference, case),
            "speedup_vs_torch": _ratio(torch_case, case),
        })  # fmt: skip
    mb_rows = []
    for case in minibatch:
        stats = _stats(case.times)
        batch = case.name.split("bs=")[1]
        ref_mb = next((c for c in minibatch if c.name == f"reference bs={batch}"
                       and c.dtype == "float64"), None)  # fmt: skip
        torch_mb = next((c for c in minibatch if c.name == f"torch bs={batch}"), None)
        mb_rows.append({
            "name": case.name, "engine": case.engine, "dtype": case.dtype,
            "input_dtype": case.input_dtype, "batch_size": int(batch), **stats,
            "times_ms": [t * 1e3 for t in case.times],
            "speedup_vs_reference_f64": _ratio(ref_mb, case),
            "speedup_vs_torch": _ratio(torch_mb, case),
        })  # fmt: skip
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": _machine(threads, numba),
        "workload": {
            "m": m,
            "n_in": 784,
            "hidden": hidden,
            "n_out": 10,
            "repeats": repeats,
            "flops_per_iteration": cases[0].flops if cases else None,
        },
        "peaks": peaks,
        "full_batch": rows,
        "minibatch": mb_rows,
        "compile_seconds": compile_times,
    }


def _ratio(baseline, case) -> float | None:
    if baseline is None:
        return None
    return float(np.median(baseline.times) / np.median(case.times))


def _machine(threads: int, numba) -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not initialised"
    torch_version = None
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads,
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "threading_layer": layer,
            "torch": torch_version}  # fmt: skip


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _spread(row: dict, spec: str) -> str:
    return f"[{format(row['min_ms'], spec)}-{format(row['max_ms'], spec)}]"


def format_report(result: dict) -> str:
    machine, work, peaks = result["machine"], result["workload"], result["peaks"]
    lines = [
        f"mnistbench bench  {result['date']}  {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['threads']} threads ({machine['threading_layer']}); numpy {machine['numpy']}, "
        f"numba {machine['numba']}, torch {machine['torch'] or 'not installed'}",
        f"workload: full-batch iteration, m={work['m']:,} x {work['n_in']}, hidden "
        f"{work['hidden']}, {work['flops_per_iteration'] / 1e9:.3f} GFLOP; "
        f"{work['repeats']} interleaved rounds, median [min-max]",
        f"measured peaks: matmul {peaks['gflops_float64']:.0f} GFLOP/s f64, "
        f"{peaks['gflops_float32']:.0f} GFLOP/s f32; copy {peaks['copy_gbps']:.1f} GB/s",
        "",
        f"{'variant':<15}{'dtype':<9}{'input':<9}{'ms/iter':>9}{'  [min-max]':<17}"
        f"{'vs ref64':>9}{'vs torch':>9}{'GFLOP/s':>9}{'GB/s':>7}{'floor ms':>10}{'roofline':>9}",
    ]
    for row in result["full_batch"]:
        lines.append(
            f"{row['name']:<15}{row['dtype']:<9}{row['input_dtype']:<9}"
            f"{row['median_ms']:>9.2f}  {_spread(row, '.1f'):<15}"
            f"{_fmt(row['speedup_vs_reference_f64'], '.2f'):>9}"
            f"{_fmt(row['speedup_vs_torch'], '.2f'):>9}{row['gflops']:>9.1f}{row['gbps']:>7.1f}"
            f"{row['floor_ms']:>10.2f}{row['roofline_fraction']:>9.0%}"
        )
    if result["minibatch"]:
        lines += ["", f"mini-batch epoch over m={work['m']:,} rows (plain SGD)",
                  f"{'variant':<17}{'dtype':<9}{'input':<9}{'ms/epoch':>10}{'  [min-max]':<19}"
                  f"{'vs ref64':>9}{'vs torch':>9}"]  # fmt: skip
        for row in result["minibatch"]:
            lines.append(
                f"{row['name']:<17}{row['dtype']:<9}{row['input_dtype']:<9}"
                f"{row['median_ms']:>10.1f}  {_spread(row, '.0f'):<17}"
                f"{_fmt(row['speedup_vs_reference_f64'], '.2f'):>9}"
                f"{_fmt(row['speedup_vs_torch'], '.2f'):>9}"
            )
    compile_times = result["compile_seconds"]
    if compile_times:
        cold, cached = compile_times["cold"], compile_times["cached"]
        lines += ["", "JIT compile, seconds to first train+predict in a fresh process "
                  "(cold = no cache / cached):"]  # fmt: skip
        for key in ("float64", "float32", "uint8->float32"):
            lines.append(f"  {key:<16}{cold[key]:6.1f} / {cached[key]:.2f}")
        lines.append(f"  {'import':<16}{cold['import']:6.1f} / {cached['import']:.2f}")
    return "\n".join(lines)


def plot_report(result: dict, path: Path) -> Path:
    """Bar chart of ms per full-batch iteration per case, with each dtype's roofline floor."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = result["full_batch"]
    labels = [f"{r['name']} {r['dtype']}" + (" (uint8 X)" if r["input_dtype"] == "uint8" else "")
              for r in rows]  # fmt: skip
    medians = [r["median_ms"] for r in rows]
    spread = [[r["median_ms"] - r["min_ms"] for r in rows],
              [r["max_ms"] - r["median_ms"] for r in rows]]  # fmt: skip
    colors = {"numpy": "tab:gray", "numba": "tab:blue", "torch": "tab:orange"}
    figure = Figure(figsize=(9, 0.45 * len(rows) + 2), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    ax.barh(labels, medians, xerr=spread, color=[colors[r["engine"]] for r in rows])
    for dtype, style in (("float64", "--"), ("float32", ":")):
        floors = [
            r["floor_ms"] for r in rows if r["dtype"] == dtype and r["input_dtype"] != "uint8"
        ]
        if floors:
            ax.axvline(floors[0], color="red", linestyle=style, label=f"roofline floor {dtype}")
    ax.invert_yaxis()
    ax.set_xlabel("ms per full-batch iteration (median, min-max)")
    work = result["workload"]
    ax.set_title(f"seed workload m={work['m']:,}, hidden {work['hidden']}, "
                 f"{result['machine']['threads']} threads")  # fmt: skip
    ax.legend(loc="lower right")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png")
    return path


def _write_atomically(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        handle.write(data)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mnistbench bench", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
