"""``mnistbench bench --widths 10,32,128,512,1024 --depths 1,2``: training epochs of any MLP.

One Adam epoch (float32, uint8 pixels in) per architecture and batch size, side by side:

* ``numba``: the estimator's Numba engine (fused seed kernels for one ReLU layer of <= 32 units,
  the layer-stack GEMM kernels otherwise; :mod:`mnistbench.estimator.engines`);
* ``numpy``: the NumPy reference's layer stack (``reference.network.network_epoch``, BLAS);
* ``torch`` / ``torch_compile``: the loop people write (``nn.Sequential``, ``torch.optim.Adam``,
  ``F.cross_entropy``), eager and with the model in ``torch.compile``, where PyTorch is installed;
* ``jax``: ``jax.jit`` + ``optax.adam`` with the epoch a ``lax.scan`` over the batches, where
  JAX and optax are installed.

Every engine runs in a worker process of its own (:mod:`.isolated`) with the same pinned threads,
on the same batches from the same initial weights, warmed up by one untimed epoch (for the
compiled peers that epoch is their compilation, reported as ``first_epoch_ms``). Our rows'
``vs`` columns are ratios to each peer's median and to the fastest peer's.

Depth ``d`` at width ``w`` means hidden layers ``(w, w/2, ..., w/2**(d-1))`` (at least 10
units each), so depth 2 at 512 is ``(512, 256)``. FLOPs per epoch are counted from the shapes:
``2 m in out`` per layer for the forward product and for dW, plus ``2 m in out`` for dA of every
layer but the first. Before timing, each architecture's Numba epoch over the first rows is
checked against the reference's (``TRAJECTORY_TOL``) and each peer's loss and gradients against
the reference's (``TOL``); a mismatch refuses the whole section.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from mnistbench.reference.model import N_CLASSES
from mnistbench.reference.network import init_network, network_epoch
from mnistbench.reference.optim import OptimizerConfig, init_state
from mnistbench.reference.plots import new_figure, save_png
from mnistbench.reference.training import as_float
from mnistbench.reference.workloads import SEED

from .isolated import time_isolated
from .measure import PAUSE, spread_text, unsteady_note
from .peers import check_peer_gradients

__all__ = [
    "add_arguments",
    "architecture",
    "check",
    "child_argv",
    "epoch_case",
    "epoch_flops",
    "format_section",
    "plot_section",
    "run_from_args",
    "run_section",
    "workload",
]

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
    """The wide section's ``(X, y, description)``: Fashion-MNIST train, else ``m`` seeded rows."""
    from mnistbench.reference.data import FASHION_MNIST_DIR, load_fashion_mnist, seed_scale_matrix

    if m is None and Path(FASHION_MNIST_DIR).is_dir():
        data = load_fashion_mnist("train")
        assert data.y is not None  # the IDX train files carry labels
        return data.X, data.y, "Fashion-MNIST train (60,000 rows)"
    X, y = seed_scale_matrix(m or SEED.rows, seed=0)
    return X, y, f"seed-scale digits ({len(y):,} rows)"


ENGINES = ("numba", "numpy", "torch", "torch_compile", "jax")
PEERS = ("torch", "torch_compile", "jax")  # checked by one step's gradients before timing


def engine_available(engine: str) -> bool:
    from mnistbench import jax_engine, torch_engine

    if engine.startswith("torch"):
        return torch_engine.available()
    if engine == "jax":
        return jax_engine.available()
    return engine in ENGINES


def epoch_case(engine: str, X, y, sizes, order, batch_size):
    """run() -> one more Adam epoch of ``engine`` from where it stood (the case a worker times).

    ``numba``: the estimator's Numba engine; ``numpy``: the reference's layer stack (BLAS);
    ``torch``/``torch_compile``: the ``nn.Sequential`` + ``torch.optim.Adam`` loop, eager or with
    the model in ``torch.compile``; ``jax``: ``jax.jit`` + ``optax.adam``, ``lax.scan`` over the
    batches. All start from the same weights; our engine is checked against the reference's epoch
    and every peer's gradients against the reference's before anything is timed.
    """
    start = init_network(sizes, activation="relu", seed=0, dtype=np.float32)
    adam = OptimizerConfig("adam")
    if engine == "numba":
        from mnistbench.estimator.engines import ENGINES as ESTIMATOR_ENGINES

        check(X, y, sizes, batch_size)
        bound = ESTIMATOR_ENGINES["numba"].bind("relu")
        weights = bound.init(sizes, "relu", None, 0, np.dtype(np.float32))
        epoch, state = bound.epoch_fn(weights, X, y, adam, 0.0), init_state(weights)
        return lambda: epoch(weights, order, batch_size, LEARNING_RATE, state)[1]
    if engine == "numpy":
        X_float, state = as_float(X, np.float32), init_state(start)
        return lambda: network_epoch(
            start, X_float, y, order, batch_size, LEARNING_RATE, state, adam
        )[1]
    if engine in PEERS:
        check_peer_gradients(engine, start, X, y, CHECK_ROWS)
        if engine == "jax":
            from mnistbench.jax_engine import training_loop
        else:
            from mnistbench.torch_engine import training_loop
        options: dict[str, Any] = {"compiled": True} if engine == "torch_compile" else {}
        loop = training_loop(start, X, y, optimizer="adam", learning_rate=LEARNING_RATE, **options)
        return lambda: loop(order, batch_size)
    raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")


def check(X, y, sizes, batch_size) -> None:
    """The Numba engine's epoch over the first rows against the reference's, or refuse."""
    from mnistbench.estimator.engines import ENGINES
    from mnistbench.reference.tolerances import TRAJECTORY_TOL

    rows = np.arange(min(CHECK_ROWS, len(y)))
    engine = ENGINES["numba"].bind("relu")
    weights = engine.init(sizes, "relu", None, 0, np.dtype(np.float32))
    got, got_loss, _ = engine.epoch_fn(weights, X, y, OptimizerConfig("adam"), 0.0)(
        weights.copy(), rows, batch_size, LEARNING_RATE, init_state(weights)
    )
    start = init_network(sizes, activation="relu", seed=0, dtype=np.float32)
    X_float, adam = as_float(X[: rows.size], np.float32), OptimizerConfig("adam")
    want, want_loss, _ = network_epoch(
        start, X_float, y[: rows.size], rows, batch_size, LEARNING_RATE, init_state(start), adam
    )
    atol, rtol = TRAJECTORY_TOL[np.dtype(np.float32)]
    for a, b in zip([*got, got_loss], [*want, want_loss], strict=True):
        if not np.allclose(a, b, atol=atol, rtol=rtol):
            raise RuntimeError(
                f"refusing to time hidden {sizes[1:-1]}: the Numba epoch differs "
                "from the reference's"
            )


def run_section(
    workers,
    repeats: int,
    widths,
    depths,
    batch_sizes,
    engines,
    m=None,
    peak_gflops: float | None = None,
    pause: float = PAUSE,
    progress=None,
) -> dict:
    """Time every (depth, width, batch size, engine) in interleaved rounds.

    Each engine runs in its own worker process (``workers``: :class:`.isolated.Workers`; a fresh
    order each round, ``pause`` seconds before each call: see :func:`.isolated.time_isolated`).
    Peers that are not installed are left out with a note.
    """
    X, y, source = workload(m)
    missing = [engine for engine in engines if not engine_available(engine)]
    rows, keys = [], []
    for depth in depths:
        for width in widths:
            sizes = (X.shape[1], *architecture(width, depth), N_CLASSES)
            for batch_size in batch_sizes:
                for engine in engines:
                    if engine in missing:
                        continue
                    key = f"wide {engine} {sizes} {batch_size}"
                    if progress:
                        progress(
                            f"wide: preparing {engine} hidden {sizes[1:-1]} batch {batch_size}"
                        )
                    build = workers.add(
                        key,
                        engine,
                        "mnistbench.bench.cases:wide_epoch",
                        engine=engine,
                        sizes=sizes,
                        batch_size=batch_size,
                        m=m,
                    )
                    rows.append(
                        {
                            "engine": engine,
                            "hidden": list(sizes[1:-1]),
                            "depth": depth,
                            "width": width,
                            "batch_size": batch_size,
                            "flops": epoch_flops(len(y), sizes),
                            "first_epoch_ms": build["warmup_s"] * 1e3,
                        }
                    )
                    keys.append(key)
    if progress:
        progress(f"wide: timing {len(keys)} cases x {repeats} rounds")
    times = time_isolated(workers, keys, repeats, pause)
    for row, key in zip(rows, keys, strict=True):
        row["times_ms"] = [t * 1e3 for t in times[key]]
        row["process"] = workers.system_of(key)
        row["median_ms"] = float(np.median(row["times_ms"]))
        row["min_ms"], row["max_ms"] = min(row["times_ms"]), max(row["times_ms"])
        row["gflops"] = row["flops"] / row["median_ms"] / 1e6
        row["peak_fraction"] = row["gflops"] / peak_gflops if peak_gflops else None
    for row in rows:
        same = [
            r for r in rows if r["hidden"] == row["hidden"] and r["batch_size"] == row["batch_size"]
        ]
        peers = {r["engine"]: r["median_ms"] for r in same if r["engine"] in PEERS}
        row["speedup_vs"] = {peer: ms / row["median_ms"] for peer, ms in peers.items()}
        row["speedup_vs_torch"] = row["speedup_vs"].get("torch")
        best = min(peers, key=lambda peer: peers[peer]) if peers else None
        row["best_peer"] = best
        row["speedup_vs_best_peer"] = peers[best] / row["median_ms"] if best else None
    return {
        "workload": source,
        "rows": len(y),
        "threads": workers.threads,
        "repeats": repeats,
        "peak_gflops_float32": peak_gflops,
        "cases": rows,
        "not_installed": missing,
    }


def format_section(result: dict) -> str:
    """The wide section's result as the text table the bench prints."""
    lines = [
        f"training epochs, Adam lr {LEARNING_RATE:g}, float32, uint8 pixels in: "
        f"{result['workload']}, {result['threads']} threads, {result['repeats']} rounds, "
        "median [min-max]; every engine in a process of its own",
        f"{'hidden':<14}{'batch':>6}  {'engine':<14}{'ms/epoch':>10}  {'[min-max]':<17}"
        f"{'GFLOP/s':>8}{'% peak':>8}{'vs torch':>9}{'vs best peer':>16}",
    ]
    for row in result["cases"]:
        hidden = ",".join(map(str, row["hidden"]))
        peak = "-" if row["peak_fraction"] is None else f"{row['peak_fraction']:.0%}"
        vs = "-" if row["speedup_vs_torch"] is None else f"{row['speedup_vs_torch']:.2f}"
        best = "-"
        if row.get("best_peer") and row["engine"] not in PEERS:
            best = f"{row['speedup_vs_best_peer']:.2f} ({row['best_peer']})"
        spread = spread_text(row, ".0f")
        lines.append(
            f"{hidden:<14}{row['batch_size']:>6}  {row['engine']:<14}"
            f"{row['median_ms']:>10.1f}  {spread:<17}{row['gflops']:>8.1f}{peak:>8}"
            f"{vs:>9}{best:>16}"
        )
    lines += unsteady_note(result["cases"])
    compiled = [row for row in result["cases"] if row["engine"] in ("torch_compile", "jax")]
    if compiled:
        lines.append(
            "first (compiling) epoch, ms: "
            + ", ".join(
                f"{row['engine']} {','.join(map(str, row['hidden']))}/{row['batch_size']} "
                f"{row['first_epoch_ms']:.0f}"
                for row in compiled
            )
        )
    for engine in result.get("not_installed", []):
        lines.append(
            f"note: {engine} not installed, its rows are left out (pip install 'mnistbench[peers]')"
        )
    return "\n".join(lines)


def plot_section(result: dict, path: Path) -> Path:
    """GFLOP/s against the first hidden width, a line per engine x depth x batch size.

    The measured float32 matmul peak is drawn too.
    """
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
        ax.axhline(
            result["peak_gflops_float32"],
            color="red",
            linestyle="--",
            label="measured f32 matmul peak",
        )
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
        "--widths",
        type=layer_widths,
        default=None,
        metavar="W[,W...]",
        help="add the wide/deep section: Adam epochs per first hidden width "
        "(e.g. 10,32,128,512,1024), numba vs numpy vs the PyTorch loop",
    )
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
    argv = [
        "--widths",
        ",".join(map(str, args.widths)),
        "--depths",
        ",".join(map(str, args.depths)),
        "--wide-batch-sizes",
        ",".join(map(str, args.wide_batch_sizes)),
    ]
    if outputs and args.wide_plot is not None:
        argv += ["--wide-plot", str(args.wide_plot)]
    return argv


def run_from_args(args, workers, repeats: int, peaks: dict, progress=None) -> dict:
    """Run, print (and plot) the section as the options say; the result for the JSON."""
    engines = [e for e in args.engines if e in ENGINES]
    if "torch" in engines:  # the PyTorch loop eager and compiled, side by side
        engines.insert(engines.index("torch") + 1, "torch_compile")
    result = run_section(
        workers,
        repeats,
        args.widths,
        args.depths,
        args.wide_batch_sizes,
        engines,
        m=args.m,
        peak_gflops=peaks["gflops_float32"],
        pause=args.pause,
        progress=progress,
    )
    print("\n" + format_section(result))
    if args.wide_plot is not None:
        print(f"wrote {plot_section(result, args.wide_plot)}")
    return result
