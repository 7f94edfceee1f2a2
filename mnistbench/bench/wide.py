"""``mnistbench bench --widths 10,32,128,512,1024 --depths 1,2``: training epochs of any MLP.

One Adam epoch (float32, uint8 pixels in) per architecture and batch size, side by side:

* ``numba``: the estimator's Numba engine (fused seed kernels for one ReLU layer of <= 32 units,
  the layer-stack GEMM kernels otherwise; :mod:`mnistbench.engines`);
* ``numpy``: the NumPy reference's layer stack (``reference.network.network_epoch``, BLAS);
* ``torch``: the loop people write (``nn.Sequential``, ``torch.optim.Adam``,
  ``F.cross_entropy``) on the same batches and threads, where PyTorch is installed.

Depth ``d`` at width ``w`` means hidden layers ``(w, w/2, ..., w/2**(d-1))`` (at least 10
units each), so depth 2 at 512 is ``(512, 256)``. FLOPs per epoch are counted from the shapes:
``2 m in out`` per layer for the forward product and for dW, plus ``2 m in out`` for dA of every
layer but the first. Before timing, each architecture's Numba epoch over the first rows is
checked against the reference's (``TRAJECTORY_TOL``); a mismatch refuses the whole section.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from mnistbench.reference.model import N_CLASSES
from mnistbench.reference.network import init_network, network_epoch
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.plots import new_figure, save_png
from mnistbench.reference.training import as_float

from .measure import PAUSE, Case, time_rounds

__all__ = [
    "add_arguments",
    "architecture",
    "cases_for",
    "check",
    "child_argv",
    "epoch_flops",
    "format_section",
    "plot_section",
    "run_from_args",
    "run_section",
    "workload",
]  # fmt: skip

LEARNING_RATE = 1e-3
CHECK_ROWS = 512


def architecture(width: int, depth: int) -> tuple[int, ...]:
    """Hidden widths for ``depth`` layers starting at ``width``, halving, at least 10 each."""
    return tuple(max(10, width >> layer) for layer in range(depth))


def epoch_flops(m: int, sizes: tuple[int, ...]) -> float:
    """FLOPs of one training epoch over ``m`` rows for layer sizes ``(n_in, ..., n_out)``."""
    products = [a * b for a, b in itertools.pairwise(sizes)]
    return 2.0 * m * (2 * sum(products) + sum(products[1:]))


def workload(m: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    from mnistbench.reference.data import FASHION_MNIST_DIR, load_fashion_mnist, seed_scale_matrix

    if m is None and Path(FASHION_MNIST_DIR).is_dir():
        data = load_fashion_mnist("train")
        return data.X, data.y, "Fashion-MNIST train (60,000 rows)"
    X, y = seed_scale_matrix(m or 41_000, seed=0)
    return X, y, f"seed-scale digits ({len(y):,} rows)"


def cases_for(X, y, sizes, order, batch_size, engines):
    """name -> run() for one architecture; each run trains one epoch from where it stood."""
    from mnistbench.engines import ENGINES
    from mnistbench.torch_engine import available, training_loop

    start = init_network(sizes, activation="relu", seed=0, dtype=np.float32)
    adam = OptimizerConfig("adam")
    cases = {}
    if "numba" in engines:
        engine = ENGINES["numba"].bind("relu")
        weights = engine.init(sizes, "relu", None, 0, np.dtype(np.float32))
        epoch, state = engine.epoch_fn(weights, X, y, adam, 0.0), init_state(weights)
        cases["numba"] = lambda: epoch(weights, order, batch_size, LEARNING_RATE, state)
    if "numpy" in engines:
        X_float, ref_state = as_float(X, np.float32), init_state(start)
        cases["numpy"] = lambda: network_epoch(start, X_float, y, order, batch_size,
                                               LEARNING_RATE, ref_state, adam)  # fmt: skip
    if "torch" in engines and available():
        loop = training_loop(start, X, y, optimizer="adam", learning_rate=LEARNING_RATE)
        cases["torch"] = lambda: loop(order, batch_size)
    return cases


def check(X, y, sizes, batch_size) -> None:
    """The Numba engine's epoch over the first rows against the reference's, or refuse."""
    from mnistbench.engines import ENGINES
    from mnistbench.variants import TRAJECTORY_TOL

    rows = np.arange(min(CHECK_ROWS, len(y)))
    engine = ENGINES["numba"].bind("relu")
    weights = engine.init(sizes, "relu", None, 0, np.dtype(np.float32))
    got, got_loss, _ = engine.epoch_fn(weights, X, y, OptimizerConfig("adam"), 0.0)(
        weights.copy(), rows, batch_size, LEARNING_RATE, init_state(weights)
    )
    start = init_network(sizes, activation="relu", seed=0, dtype=np.float32)
    X_float, adam = as_float(X[: rows.size], np.float32), OptimizerConfig("adam")
    want, want_loss, _ = network_epoch(start, X_float, y[: rows.size], rows, batch_size,
                                       LEARNING_RATE, init_state(start), adam)  # fmt: skip
    atol, rtol = TRAJECTORY_TOL[np.dtype(np.float32)]
    for a, b in zip([*got, got_loss], [*want, want_loss], strict=True):
        if not np.allclose(a, b, atol=atol, rtol=rtol):
            raise RuntimeError(f"refusing to time hidden {sizes[1:-1]}: the Numba epoch differs "
                               "from the reference's")  # fmt: skip


def run_section(threads: int, repeats: int, widths, depths, batch_sizes, engines, m=None,
                peak_gflops: float | None = None, pause: float = PAUSE) -> dict:  # fmt: skip
    """Time every (depth, width, batch size, engine) in interleaved rounds (a fresh order each
    round, ``pause`` seconds before each call: see :func:`.measure.time_rounds`)."""
    import numba

    if "torch" in engines:
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    X, y, source = workload(m)
    order = np.random.default_rng(0).permutation(len(y))
    rows, cases = [], []
    for depth in depths:
        for width in widths:
            sizes = (X.shape[1], *architecture(width, depth), N_CLASSES)
            for batch_size in batch_sizes:
                check(X, y, sizes, batch_size)
                for name, run in cases_for(X, y, sizes, order, batch_size, engines).items():
                    run()  # JIT, caches, thread pools
                    rows.append({"engine": name, "hidden": list(sizes[1:-1]), "depth": depth,
                                 "width": width, "batch_size": batch_size,
                                 "flops": epoch_flops(len(y), sizes)})  # fmt: skip
                    cases.append(Case(name, name, "float32", "uint8", run))
    time_rounds(cases, repeats, pause)
    for row, case in zip(rows, cases, strict=True):
        row["times_ms"] = [t * 1e3 for t in case.times]
    for row in rows:
        row["median_ms"] = float(np.median(row["times_ms"]))
        row["min_ms"], row["max_ms"] = min(row["times_ms"]), max(row["times_ms"])
        row["gflops"] = row["flops"] / row["median_ms"] / 1e6
        row["peak_fraction"] = row["gflops"] / peak_gflops if peak_gflops else None
    for row in rows:
        torch_row = next((r for r in rows if r["engine"] == "torch" and r["hidden"] == row["hidden"]
                          and r["batch_size"] == row["batch_size"]), None)  # fmt: skip
        row["speedup_vs_torch"] = torch_row["median_ms"] / row["median_ms"] if torch_row else None
    return {"workload": source, "rows": len(y), "threads": threads, "repeats": repeats,
            "peak_gflops_float32": peak_gflops, "cases": rows}  # fmt: skip


def format_section(result: dict) -> str:
    lines = [f"training epochs, Adam lr {LEARNING_RATE:g}, float32, uint8 pixels in: "
             f"{result['workload']}, {result['threads']} threads, {result['repeats']} rounds, "
             "median [min-max]",
             f"{'hidden':<14}{'batch':>6}  {'engine':<7}{'ms/epoch':>10}  {'[min-max]':<17}"
             f"{'GFLOP/s':>8}{'% peak':>8}{'vs torch':>9}"]  # fmt: skip
    for row in result["cases"]:
        hidden = ",".join(map(str, row["hidden"]))
        peak = "-" if row["peak_fraction"] is None else f"{row['peak_fraction']:.0%}"
        vs = "-" if row["speedup_vs_torch"] is None else f"{row['speedup_vs_torch']:.2f}"
        spread = f"[{row['min_ms']:.0f}-{row['max_ms']:.0f}]"
        lines.append(f"{hidden:<14}{row['batch_size']:>6}  {row['engine']:<7}"
                     f"{row['median_ms']:>10.1f}  {spread:<17}{row['gflops']:>8.1f}{peak:>8}"
                     f"{vs:>9}")  # fmt: skip
    return "\n".join(lines)


def plot_section(result: dict, path: Path) -> Path:
    """GFLOP/s against the first hidden width, a line per engine x depth x batch size, with
    the measured float32 matmul peak drawn."""

    figure = new_figure(8, 5)
    ax = figure.add_subplot(1, 1, 1)
    lines: dict[tuple, list] = {}
    for row in result["cases"]:
        key = (row["engine"], row["depth"], row["batch_size"])
        lines.setdefault(key, []).append((row["width"], row["gflops"]))
    for (engine, depth, batch_size), points in sorted(lines.items()):
        widths, rates = zip(*sorted(points), strict=True)
        ax.plot(widths, rates, marker="o", label=f"{engine}, depth {depth}, batch {batch_size}")
    if result["peak_gflops_float32"]:
        ax.axhline(result["peak_gflops_float32"], color="red", linestyle="--",
                   label="measured f32 matmul peak")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xlabel("first hidden layer width")
    ax.set_ylabel("GFLOP/s (training epoch)")
    ax.set_title(f"{result['workload']}, {result['threads']} threads")
    ax.legend(fontsize="small")
    figure.tight_layout()
    return save_png(figure, path)


def add_arguments(parser) -> None:
    """``mnistbench bench`` options of this section (``--widths`` turns it on)."""
    from mnistbench.cli._args import layer_widths

    parser.add_argument(
        "--widths", type=layer_widths, default=None, metavar="W[,W...]",
        help="add the wide/deep section: Adam epochs per first hidden width "
        "(e.g. 10,32,128,512,1024), numba vs numpy vs the PyTorch loop",
    )  # fmt: skip
    parser.add_argument(
        "--depths",
        type=layer_widths,
        default=(1,),
        metavar="D[,D...]",
        help="hidden layers per width in the wide section, halving (1)",
    )
    parser.add_argument(
        "--wide-batch-sizes",
        type=layer_widths,
        default=(128,),
        metavar="B[,B...]",
        help="batch sizes of the wide section (128)",
    )
    parser.add_argument(
        "--wide-plot",
        type=Path,
        default=None,
        metavar="PATH",
        help="PNG of the wide section's GFLOP/s against width",
    )


def child_argv(args, outputs: bool) -> list[str]:
    """The section's options for a re-executed (thread-pinned) child run."""
    if not args.widths:
        return []
    argv = ["--widths", ",".join(map(str, args.widths)), "--depths",
            ",".join(map(str, args.depths)), "--wide-batch-sizes",
            ",".join(map(str, args.wide_batch_sizes))]  # fmt: skip
    if outputs and args.wide_plot is not None:
        argv += ["--wide-plot", str(args.wide_plot)]
    return argv


def run_from_args(args, threads: int, repeats: int, peaks: dict) -> dict:
    """Run, print (and plot) the section as the options say; the result for the JSON."""
    engines = [e for e in args.engines if e in ("numba", "numpy", "torch")]
    result = run_section(threads, repeats, args.widths, args.depths, args.wide_batch_sizes,
                         engines, m=args.m, peak_gflops=peaks["gflops_float32"],
                         pause=args.pause)  # fmt: skip
    print("\n" + format_section(result))
    if args.wide_plot is not None:
        print(f"wrote {plot_section(result, args.wide_plot)}")
    return result
