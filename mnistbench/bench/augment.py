"""``mnistbench bench --augment``: augmentation throughput, and epoch time with it on and off.

Throughput is measured against scipy.ndimage; the epoch time of training with augmentation on is
compared against off.

Throughput: the Numba kernels (:func:`mnistbench.kernels.augment.augment_batch`, batches of 128
as in training) against the same transform written with ``scipy.ndimage`` (``affine_transform``,
``gaussian_filter`` + ``map_coordinates``, order 1) with NumPy's generator drawing the random
parameters, given the same threads (scipy's calls run on a thread pool of that size). Epoch
time: the estimator's epoch function
(:class:`mnistbench.estimator._augmenting.AugmentingEpoch`) against its plain one on the same
data, adam. Before anything is timed, the kernels are checked against
the scipy oracle (:mod:`mnistbench.reference.augment`) and the augmenting Numba epoch against
the NumPy engine's; a mismatch refuses the whole section.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mnistbench.reference import augment as ref
from mnistbench.reference.augment import AugmentConfig
from mnistbench.reference.model import N_PIXELS, SIDE
from mnistbench.reference.tolerances import AUGMENT_ATOL

from .isolated import time_isolated
from .measure import PAUSE, spread_text, unsteady_note

__all__ = [
    "TRANSFORMS",
    "check_epoch",
    "check_kernel",
    "epoch_functions",
    "format_section",
    "kernel_run",
    "run_section",
    "scipy_augment",
    "scipy_run",
    "training_digits",
]

TRANSFORMS = {
    "affine": AugmentConfig(rotate=10, scale=0.1, shift=2),
    "elastic": AugmentConfig(elastic_alpha=34, elastic_sigma=4),
    "noise": AugmentConfig(noise=0.05),
    "all": AugmentConfig(
        rotate=10, scale=0.1, shift=2, elastic_alpha=34, elastic_sigma=4, noise=0.05
    ),
}
BATCH = 128
CHECK_ROWS = 16
SCIPY_IMAGES = 500  # scipy.ndimage is timed on fewer images (it is ~10x slower)
CHECK_ATOL = AUGMENT_ATOL[np.dtype(np.float32)]  # the float32 batch against the oracle


def scipy_augment(X: np.ndarray, rows: np.ndarray, config: AugmentConfig, seed: int) -> np.ndarray:
    """(n, 784) float64: ``config``'s transform of X[rows] (uint8) with scipy.ndimage.

    One image at a time, random parameters from ``np.random.default_rng(seed)`` drawn for the whole
    batch.
    """
    rng, n = np.random.default_rng(seed), rows.shape[0]
    u = rng.uniform(-1.0, 1.0, (n, 4))
    fields = rng.uniform(-1.0, 1.0, (n, 2, SIDE, SIDE)) if config.elastic else None
    pixel_noise = rng.standard_normal((n, SIDE, SIDE)) if config.noise > 0 else None
    out = np.empty((n, N_PIXELS))
    for i, row in enumerate(rows):
        image = X[row].reshape(SIDE, SIDE) / 255.0
        angle, factor = config.rotate * u[i, 0], 1.0 + config.scale * u[i, 1]
        shift = (config.shift * u[i, 2], config.shift * u[i, 3])
        if fields is not None:  # config.elastic
            dx, dy = ref.displacement_field(
                fields[i, 0], fields[i, 1], config.elastic_alpha, config.elastic_sigma
            )
            image = ref.warp(image, angle, factor, shift, dx, dy)
        elif config.geometric:
            image = ref.affine(image, angle, factor, shift)
        if pixel_noise is not None:
            image = ref.add_noise(image, pixel_noise[i], config.noise)
        out[i] = image.ravel()
    return out


def check_kernel(X: np.ndarray, config: AugmentConfig, name: str) -> None:
    """Refuse to time a kernel whose float32 images differ from the scipy oracle's."""
    from mnistbench.kernels.augment import augment_batch

    rows = np.linspace(0, X.shape[0] - 1, CHECK_ROWS).astype(np.int64)
    got = augment_batch(X, rows, seed=1, epoch=2, config=config, dtype=np.float32)
    want = ref.augment_batch(X, rows, config, seed=1, epoch=2)
    error = float(np.abs(got - want).max())
    if not error <= CHECK_ATOL:
        raise RuntimeError(
            f"refusing to time augmentation {name!r}: the kernel differs from the scipy.ndimage "
            f"oracle by {error:.3g} (> {CHECK_ATOL:g})"
        )


def kernel_run(X: np.ndarray, rows: np.ndarray, config: AugmentConfig) -> Callable[[], object]:
    """run(): augment X[rows] with the kernels in batches of 128, a new epoch each call."""
    from mnistbench.kernels.augment import augment_batch

    out = np.empty((BATCH, N_PIXELS), np.float32)
    counter = itertools.count()

    def run() -> None:
        epoch = next(counter)
        for start in range(0, rows.shape[0], BATCH):
            batch = rows[start : start + BATCH]
            augment_batch(X, batch, seed=0, epoch=epoch, config=config, out=out[: batch.size])

    return run


def scipy_run(X, rows, config, threads: int) -> Callable[[], object]:
    """run(): :func:`scipy_augment` of X[rows], split over a pool of ``threads`` threads."""
    chunks = np.array_split(rows, threads)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def run() -> None:
        if pool is None:
            scipy_augment(X, rows, config, 0)
        else:
            list(pool.map(lambda c: scipy_augment(X, chunks[c], config, c), range(threads)))

    return run


def epoch_functions(engine_name: str, X, y, hidden: int, dtype, config: AugmentConfig | None):
    """epoch(order) -> (params, loss sum, correct): one more adam epoch at batch ``BATCH``.

    Each call augments with ``config`` (None: the plain epoch function); epochs are numbered from 0.
    """
    from mnistbench.estimator._augmenting import AugmentingEpoch
    from mnistbench.estimator.engines import ENGINES
    from mnistbench.reference.optim import OptimizerConfig, init_state

    engine, optimizer = ENGINES[engine_name], OptimizerConfig("adam")
    # The estimator's weights: seed Params for a narrow ReLU layer, a Network otherwise.
    params = engine.init((N_PIXELS, hidden, 10), "relu", "he", 0, np.dtype(dtype))
    state, counter, current = init_state(params), itertools.count(), [params]
    if config is None:
        step = engine.epoch_fn(params, X, y, optimizer, 0.0)
    else:
        step = AugmentingEpoch(engine, X, y, optimizer, 0.0, config, 0, lambda: next(counter))

    def epoch(order: np.ndarray, batch_size: int = BATCH) -> tuple:
        result = step(current[0], order, batch_size, 1e-3, state)
        current[0] = result[0]  # the NumPy engine returns new arrays, Numba updates in place
        return result

    return epoch


def check_epoch(X, y, hidden: int, config: AugmentConfig, rows: int = 2 * BATCH) -> None:
    """Refuse to time the augmenting epoch unless the Numba and NumPy engines agree on one.

    The epoch is over ``rows`` samples, float64, compared to
    :data:`mnistbench.reference.tolerances.TRAJECTORY_TOL`.
    """
    from mnistbench.reference.tolerances import TRAJECTORY_TOL

    order = np.random.default_rng(0).permutation(X.shape[0])[:rows]
    fast, loss_fast, _ = epoch_functions("numba", X, y, hidden, np.float64, config)(order)
    slow, loss_slow, _ = epoch_functions("numpy", X, y, hidden, np.float64, config)(order)
    atol, rtol = TRAJECTORY_TOL[np.dtype(np.float64)]
    for a, b in zip((*fast, loss_fast), (*slow, loss_slow), strict=True):
        if not np.allclose(a, b, atol=atol, rtol=rtol):
            raise RuntimeError(
                "refusing to time augmented epochs: the Numba and NumPy engines "
                "disagree on an augmented epoch"
            )


def run_section(
    workers,
    repeats: int,
    pause: float = PAUSE,
    hidden: int = 128,
    transforms: tuple[str, ...] = tuple(TRANSFORMS),
) -> dict:
    """Throughput rows and epoch rows of the augmentation section, as a dict.

    Throughput rows: images/s, Numba vs scipy.ndimage at the workers' threads. Epoch rows: ms per
    epoch, float32 hidden ``hidden`` batch 128, augmentation off and per transform. Both on the
    embedded training digits. The Numba cases run in the ``numba`` worker, the scipy ones in a
    ``scipy`` worker of their own; all interleaved in the same rounds.
    """
    counts, throughput_keys, epoch_keys = {}, [], {}
    for name in transforms:
        for implementation in ("numba", "scipy"):
            key = f"augment {implementation} {name}"
            build = workers.add(
                key,
                implementation,
                "mnistbench.bench.cases:augment_throughput",
                implementation=implementation,
                transform=name,
                threads=workers.threads,
            )
            counts[key] = build["info"]["images"]
            throughput_keys.append(key)
    for name in ("off", *transforms):
        key = f"augment epoch {name}"
        workers.add(
            key,
            "numba",
            "mnistbench.bench.cases:augment_epoch",
            transform=None if name == "off" else name,
            hidden=hidden,
        )
        epoch_keys[name] = key
    times = time_isolated(workers, throughput_keys + list(epoch_keys.values()), repeats, pause)
    images = max(counts.values())
    result = {
        "threads": workers.threads,
        "images": images,
        "hidden": hidden,
        "batch": BATCH,
        "repeats": repeats,
        "throughput": {},
        "epochs": {},
    }
    for key in throughput_keys:
        per_second = counts[key] / np.array(times[key])
        result["throughput"][key.split(" ", 1)[1]] = {
            "images_per_s": float(np.median(per_second)),
            "min": float(per_second.min()),
            "max": float(per_second.max()),
        }
    off = float(np.median(times[epoch_keys["off"]]))
    for name, key in epoch_keys.items():
        seconds = times[key]
        median = float(np.median(seconds))
        result["epochs"][name] = {
            "median_ms": median * 1e3,
            "min_ms": min(seconds) * 1e3,
            "max_ms": max(seconds) * 1e3,
            "vs_off": median / off,
        }
    return result


def training_digits() -> tuple[np.ndarray, np.ndarray]:
    """The embedded digits' 4,000 training rows: (4000, 784) uint8 and int64 labels."""
    from mnistbench.reference.data import load_embedded, train_dev_split

    data = load_embedded()
    assert data.y is not None  # the embedded digits carry labels
    X, y, _, _ = train_dev_split(data.X, data.y)
    return np.ascontiguousarray(X), np.ascontiguousarray(y, dtype=np.int64)


def format_section(result: dict) -> str:
    """The section as text: throughput table, then epoch table."""
    lines = [
        f"augmentation ({result['threads']} threads; median [min-max] of "
        f"{result['repeats']} interleaved rounds)",
        f"{'transform':<10}{'numba img/s':>14}{'scipy img/s':>14}{'speedup':>9}",
    ]
    names = sorted(
        {key.split(" ", 1)[1] for key in result["throughput"]}, key=list(TRANSFORMS).index
    )
    for name in names:
        fast = result["throughput"][f"numba {name}"]["images_per_s"]
        slow = result["throughput"][f"scipy {name}"]["images_per_s"]
        lines.append(f"{name:<10}{fast:>14,.0f}{slow:>14,.0f}{fast / slow:>8.1f}x")
    lines += [
        "",
        f"epoch with augmentation, {result['images']:,} rows, hidden "
        f"{result['hidden']}, batch {result['batch']}, float32, adam",
        f"{'augment':<10}{'ms/epoch':>10}  {'[min-max]':<14}{'vs off':>7}",
    ]
    for name, row in result["epochs"].items():
        spread = spread_text(row, ".1f")
        lines.append(f"{name:<10}{row['median_ms']:>10.1f}  {spread:<14}{row['vs_off']:>6.2f}x")
    lines += unsteady_note(list(result["epochs"].values()))
    return "\n".join(lines)
