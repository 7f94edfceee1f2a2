"""On-the-fly augmentation in the estimator's training: settings, input checks, the epoch driver.

Mini-batches are augmented just before their gradient steps, a chunk of whole batches (about
1,024 rows) at a time into one of two preallocated buffers, never as an augmented copy of the
data set. Image ``row`` of epoch ``e`` is transformed by a pure function of (seed, e, row)
(:mod:`mnistbench.reference.augment`), so a run is the same whatever the batch order, chunking,
thread count or engine: the Numba engine draws with
:func:`mnistbench.kernels.augment.augment_batch`, the NumPy engine with the scipy.ndimage oracle,
and both then run their ordinary epoch function over the buffer's batches. Where a step leaves
threads idle, the next chunk is augmented on them meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import numba
import numpy as np

from mnistbench.reference.augment import AugmentConfig
from mnistbench.reference.model import N_PIXELS
from mnistbench.reference.network import Network
from mnistbench.reference.optim import OptimizerConfig, OptimizerState

from ._regularizing import Regularization
from ._sparse import bind_step
from ._state import ModelState

if TYPE_CHECKING:
    from ._classifier import MLPClassifier
    from .engines import Engine

__all__ = [
    "DEFAULTS",
    "NAMES",
    "AugmentingEpoch",
    "augment_config",
    "check_images",
    "config_for",
    "parse_names",
]

NAMES = ("affine", "elastic", "noise")
# The estimator's and the CLI's defaults; each takes effect only when its family is listed.
DEFAULTS = {
    "rotate": 10.0,
    "scale": 0.1,
    "shift": 2.0,
    "elastic_alpha": 34.0,
    "elastic_sigma": 4.0,
    "noise": 0.05,
}
FAMILIES = {
    "affine": ("rotate", "scale", "shift"),
    "elastic": ("elastic_alpha",),
    "noise": ("noise",),
}
# Rows augmented per buffer (rounded down to whole batches, at least one): 1,024 rows are
# 3 MiB in float32, never the data set.
CHUNK_ROWS = 1024
_background: list[ThreadPoolExecutor] = []


def parse_names(value: Any) -> tuple[str, ...]:
    """None -> (); "affine,noise" or an iterable of names -> the sorted distinct names."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
    elif isinstance(value, Iterable):
        parts = list(value)
    else:
        raise TypeError(
            f"augment must be None, a comma string or a set of names, got {type(value).__name__}"
        )
    bad = [part for part in parts if not isinstance(part, str) or part not in NAMES]
    if bad or not parts:
        raise ValueError(
            f"augment must name one or more of {', '.join(NAMES)} (or be None), "
            f"got {value!r}" + (f": unknown {bad[0]!r}" if bad else "")
        )
    return tuple(sorted(set(parts)))


def config_for(names: Any, **settings: float) -> AugmentConfig | None:
    """Return the validated settings of the listed families (others zeroed), or None.

    None when ``names`` is None.

    ``settings``: rotate, scale, shift, elastic_alpha, elastic_sigma, noise. A listed family
    whose settings are all 0 is refused: it would silently do nothing.
    """
    chosen = parse_names(names)
    if not chosen:
        return None
    used = {name for family in chosen for name in FAMILIES[family]}
    if "elastic" in chosen:
        used.add("elastic_sigma")
    config = AugmentConfig(**{name: settings[name] if name in used else 0.0 for name in DEFAULTS})
    for family in chosen:
        if all(getattr(config, name) == 0 for name in FAMILIES[family]):
            *rest, last = FAMILIES[family]
            what = f"{', '.join(rest)} and {last} are all" if rest else f"{last} is"
            raise ValueError(f"augment lists {family!r} but {what} 0: it would do nothing")
    return config


def augment_config(est: MLPClassifier) -> AugmentConfig | None:
    """Return the estimator's ``augment`` and its settings as a validated config (None: off)."""
    return config_for(est.augment, **{name: getattr(est, name) for name in DEFAULTS})


def check_images(X: np.ndarray) -> None:
    """Check X: (m, n_features) as the estimator holds it, for augmentation.

    Augmentation needs 28x28 images, uint8 pixels or floats in [0, 1]. Raises ValueError
    naming what is wrong.
    """
    if X.shape[1] != N_PIXELS:
        raise ValueError(
            f"augmentation needs 28x28 images ({N_PIXELS} features per row), "
            f"got {X.shape[1]} features"
        )
    if X.dtype == np.uint8 or X.size == 0:
        return
    low, high = float(X.min()), float(X.max())  # NaN propagates into both
    if not (low >= 0 and high <= 1):
        raise ValueError(
            f"augmentation needs uint8 pixels or floats in [0, 1] (pixels / 255), "
            f"got values in {low}..{high}"
        )


def _worker() -> ThreadPoolExecutor:
    if not _background:
        _background.append(ThreadPoolExecutor(1, thread_name_prefix="mnistbench-augment"))
    return _background[0]


class AugmentingEpoch:
    """An epoch function for the shared loop that trains on augmented batches.

    The epoch's batches (consecutive ``batch_size`` slices of ``order``) are augmented a chunk
    of whole batches at a time (:data:`CHUNK_ROWS`) into one of two buffers, and the engine's
    own epoch function trains on the chunk, batch by batch.

    ``engine``: a :class:`mnistbench.estimator.engines.Engine`; X: (m, 784) uint8 or floats in
    [0, 1] (checked by :func:`check_images`); y: (m,) int64 codes; ``epoch_now()`` gives the
    index of the epoch about to run (the draws' counter, so ``partial_fit`` continues the
    sequence); ``regularization``: dropout/L1/batch norm, or None. It steps what the engine's
    epoch function steps (:func:`mnistbench.estimator._sparse.bind_step`): the weights alone,
    or a ``ModelState`` where regularised. Loss and accuracy are those of the augmented
    batches, measured before each update.
    """

    def __init__(
        self,
        engine: Engine,
        X: np.ndarray,
        y: np.ndarray,
        optimizer: OptimizerConfig,
        l2: float,
        config: AugmentConfig,
        seed: int,
        epoch_now: Callable[[], int],
        regularization: Regularization | None = None,
    ) -> None:
        self.engine, self.X, self.y = engine, X, y
        self.optimizer, self.l2, self.regularization = optimizer, l2, regularization
        self.config, self.seed, self.epoch_now = config, seed, epoch_now
        self._bound: dict[int, tuple] = {}

    def _buffers(self, params: Network | ModelState, rows: int) -> tuple:
        """Two (X, y, step) triples on preallocated (rows, 784) buffers, built once."""
        if rows not in self._bound:
            triples = []
            for _ in range(2):
                X_batch = np.zeros((rows, N_PIXELS), params.dtype)
                y_batch = np.zeros(rows, np.int64)
                step = bind_step(
                    self.engine,
                    params,
                    X_batch,
                    y_batch,
                    self.optimizer,
                    self.l2,
                    self.regularization,
                )
                triples.append((X_batch, y_batch, step))
            self._bound[rows] = tuple(triples)
        return self._bound[rows]

    def _draw(
        self,
        rows: np.ndarray,
        epoch: int,
        X_batch: np.ndarray,
        y_batch: np.ndarray,
        threads: int | None = None,
    ) -> None:
        if threads is not None:  # a background thread: Numba's thread count is per thread
            numba.set_num_threads(threads)
        n = rows.shape[0]
        self.engine.augment(self.X, rows, self.config, self.seed, epoch, X_batch[:n])
        np.take(self.y, rows, out=y_batch[:n])

    def __call__(
        self,
        params: Network | ModelState,
        order: np.ndarray,
        batch_size: int,
        learning_rate: float,
        state: OptimizerState,
    ) -> tuple[Network | ModelState, float, int]:
        epoch, m = self.epoch_now(), order.shape[0]
        # A chunk of whole batches per step call: the same batches, fewer calls (a layer-stack
        # step copies its weights and optimizer state on every call).
        chunk = min(max(1, CHUNK_ROWS // batch_size) * batch_size, m)
        buffers = self._buffers(params, chunk)
        natural = np.arange(chunk, dtype=np.int64)
        starts = range(0, m, chunk)
        threads = numba.get_num_threads()
        # Threads a step leaves idle augment the next chunk meanwhile (a regularised step runs
        # the layer-stack kernels, which keep them all).
        regularized = self.regularization is not None
        network = cast(ModelState, params).network if regularized else cast(Network, params)
        spare = threads - self.engine.step_threads(network, batch_size, threads)
        overlap = spare >= 1 and len(starts) > 1
        loss_sum, correct = 0.0, 0
        pending: Future | None = None
        self._draw(order[:chunk], epoch, *buffers[0][:2])
        try:
            for k, start in enumerate(starts):
                step = buffers[k % 2][2]
                n = min(chunk, m - start)
                nxt = order[start + chunk : start + 2 * chunk]
                if nxt.size and overlap:
                    args = (nxt, epoch, *buffers[(k + 1) % 2][:2], spare)
                    pending = _worker().submit(self._draw, *args)
                # Dropout masks are drawn for the data-set rows, not the buffer's.
                rows = {} if self.regularization is None else {"rows": order[start : start + n]}
                params, batch_loss, batch_correct = step(
                    params, natural[:n], batch_size, learning_rate, state, **rows
                )
                loss_sum += batch_loss
                correct += batch_correct
                if pending is not None:
                    done, pending = pending, None
                    done.result()
                elif nxt.size:
                    self._draw(nxt, epoch, *buffers[(k + 1) % 2][:2])
        finally:
            if pending is not None:  # never leave a write into a buffer running
                pending.exception()
        return params, loss_sum, correct
