"""The bench's timed cases as factories a worker process builds by name (see :mod:`.isolated`).

Each factory takes plain, picklable arguments, makes its own data (seeded, so every process holds
the same rows), checks what it will time against the reference (a mismatch raises and the parent
refuses the case), and returns ``(run, info)``: ``run()`` does one unit of timed work (a
full-batch step, an epoch, an augmented batch set), ``info`` is a dict for the report.

``extra_work`` (seed cases) plants a slowdown: after its step the case runs the same step on
the first ``extra_work`` fraction of the rows again, the same result for ``1 + extra_work``
times the work. ``mnistbench bench --calibrate-compare`` times such planted variants to measure
how often ``--compare`` calls a real slowdown (and a non-change) right.
"""

from __future__ import annotations

import functools

import numpy as np

from mnistbench.reference.model import init_params

LEARNING_RATE_STEP = 0.1
LEARNING_RATE_SGD = 0.01


@functools.cache
def seed_data(m: int) -> tuple[np.ndarray, np.ndarray]:
    """The seed workload's ``(X, y)``: ``m`` rows, seeded (see ``seed_scale_matrix``)."""
    from mnistbench.reference.data import seed_scale_matrix

    return seed_scale_matrix(m, seed=0)


def _inputs(X8: np.ndarray, dtype, input_dtype: str) -> np.ndarray:
    return X8 if input_dtype == "uint8" else (X8 / dtype(255)).astype(dtype)


def _planted(factory, params, X, Y, extra_work: float):
    """``factory``'s case plus ``extra_work`` of it again on the first rows (same result)."""
    step = factory(params, X, Y)
    if extra_work <= 0:
        return step
    rows = max(1, round(len(Y) * extra_work))
    more = factory(params, X[:rows], Y[:rows])

    def slowed_step(params, *rest):
        result = step(params, *rest)
        more(params, *rest)
        return result

    return slowed_step


def seed_step(
    variant: str, dtype: str, input_dtype: str, m: int, hidden: int, extra_work: float = 0.0
):
    """One full-batch gradient-descent step of the seed network (registry ``FULL_BATCH``)."""
    from mnistbench.bench.variants import FULL_BATCH, check_against_reference

    X8, Y = seed_data(m)
    float_type = np.dtype(dtype).type
    X = _inputs(X8, float_type, input_dtype)
    params = init_params(hidden, X8.shape[1], seed=0, dtype=float_type)
    check_against_reference(variant, params, X, Y)
    step = _planted(FULL_BATCH[variant], params, X, Y, extra_work)
    return (lambda: step(params, LEARNING_RATE_STEP)), {}


def seed_epoch(variant: str, dtype: str, input_dtype: str, m: int, hidden: int, batch_size: int):
    """One plain-SGD mini-batch epoch of the seed network (registry ``MINIBATCH``).

    It is checked against the reference's epoch over the first rows before it is timed.
    """
    from mnistbench.bench.variants import MINIBATCH, check_epoch_against_reference

    X8, Y = seed_data(m)
    float_type = np.dtype(dtype).type
    X = _inputs(X8, float_type, input_dtype)
    params = init_params(hidden, X8.shape[1], seed=0, dtype=float_type)
    order = np.random.default_rng(0).permutation(m)
    check_epoch_against_reference(variant, params, X, Y, order)
    epoch = MINIBATCH[variant](params, X, Y)
    return (lambda: epoch(params, order, batch_size, LEARNING_RATE_SGD)), {}


def wide_epoch(engine: str, sizes: tuple[int, ...], batch_size: int, m: int | None):
    """One Adam epoch of the MLP ``sizes`` on the wide section's workload, as ``engine`` runs it.

    float32, uint8 pixels in; ``engine``: our Numba engine, the NumPy layer stack, or a peer loop.
    """
    from . import wide

    X, y = wide_data(m)
    order = np.random.default_rng(0).permutation(len(y))
    return wide.epoch_case(engine, X, y, tuple(sizes), order, batch_size), {}


@functools.cache
def wide_data(m: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The wide section's rows, read once per worker process (not once per case)."""
    from . import wide

    X, y, _ = wide.workload(m)
    return X, y


def calibration():
    """The machine's speed of the moment, timed in every round beside the cases.

    The code is :mod:`mnistbench.kernels.calibration`: fixed code that no change of ours touches;
    ``--compare`` divides it out.
    """
    from mnistbench.kernels import calibration

    return calibration.yardstick(), {"version": calibration.VERSION}


def augment_throughput(implementation: str, transform: str, threads: int):
    """Augment the embedded training digits with ``transform``, checked first.

    Either the Numba kernels (every row, batches of 128) or scipy.ndimage (500 rows on ``threads``
    threads).
    """
    from . import augment

    X, _ = augment.training_digits()
    config = augment.TRANSFORMS[transform]
    rows = np.arange(X.shape[0], dtype=np.int64)
    if implementation == "numba":
        augment.check_kernel(X, config, transform)
        return augment.kernel_run(X, rows, config), {"images": int(rows.size)}
    scipy_rows = rows[: augment.SCIPY_IMAGES]
    return augment.scipy_run(X, scipy_rows, config, threads), {"images": int(scipy_rows.size)}


def augment_epoch(transform: str | None, hidden: int):
    """One float32 Adam epoch of the estimator's Numba engine on the embedded training digits.

    The epoch augments with ``transform`` (None: off).
    """
    from . import augment

    X, y = augment.training_digits()
    config = None if transform is None else augment.TRANSFORMS[transform]
    if config is not None:
        augment.check_epoch(X, y, hidden, config)
    epoch = augment.epoch_functions("numba", X, y, hidden, np.float32, config)
    order = np.random.default_rng(0).permutation(X.shape[0])
    return (lambda: epoch(order)), {}
