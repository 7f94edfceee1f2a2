"""Splitting a batch of samples across threads for the fused and forward kernels.

Each thread runs the serial, GIL-free ``_jit_seed.accumulate`` (or ``_jit_seed.forward_rows``) on
its own contiguous chunk of rows, into its own accumulator; the chunks' sums are then reduced
serially in chunk order, so a given thread count always gives bit-identical results. Python threads
are used instead of a ``prange`` region because a ``parallel=True`` function around the fused
kernel more than doubled its cold compile time (measured: ~6 s for the parallel driver alone vs
~2.7 s serial), while the dispatch cost here (tens of microseconds) is noise next to a chunk of at
least MIN_WORK_PER_CHUNK units of work. The thread count is Numba's (``NUMBA_NUM_THREADS``,
``numba.set_num_threads``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numba
import numpy as np

from mnistbench.reference.model import Activations, Params

from . import _jit_seed

# A chunk needs at least this much work, in samples x hidden units (the cost of a sample grows
# with the hidden width), to be worth a thread: 1,024 samples of the seed's 10-unit network.
# Measured at hidden 10: batches of 512 and 2,048 ran no faster split in two (per-batch Python
# dispatch ate the gain), while whole-epoch serial njit calls avoid that dispatch entirely.
MIN_WORK_PER_CHUNK = 1024 * 10

_pools: dict[int, ThreadPoolExecutor] = {}
T = TypeVar("T")


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _pools:
        _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="mnistbench")
    return _pools[workers]


def chunk_count(n_rows: int, hidden: int, max_chunks: int) -> int:
    """How many threads a batch of ``n_rows`` samples is split across (at least 1)."""
    threads = min(numba.get_num_threads(), max_chunks)
    return max(1, min(threads, n_rows * hidden // MIN_WORK_PER_CHUNK))


def _run(work: Callable[[int], T], n_chunks: int) -> list[T]:
    """work(0..n_chunks-1): chunk 0 on this thread, the others on the pool; results in order."""
    if n_chunks == 1:
        return [work(0)]
    futures = [_pool(n_chunks - 1).submit(work, c) for c in range(1, n_chunks)]
    return [work(0)] + [f.result() for f in futures]


def _bounds(n: int, n_chunks: int) -> list[int]:
    return [c * n // n_chunks for c in range(n_chunks + 1)]


def accumulate(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    rows: np.ndarray,
    scale: np.floating,
    acc: Params,
    n_chunks: int,
) -> tuple[float, int]:
    """Gradient sums of ``rows`` into ``acc[0:n_chunks]``; returns (loss sum, correct)."""
    bounds = _bounds(rows.shape[0], n_chunks)

    def work(c: int) -> tuple[float, int]:
        chunk = rows[bounds[c] : bounds[c + 1]]
        return _jit_seed.accumulate(
            *params, X, Y, chunk, scale, acc.W1[c], acc.b1[c], acc.W2[c], acc.b2[c]
        )

    loss_sum = 0.0
    correct = 0
    for chunk_loss, chunk_correct in _run(work, n_chunks):
        loss_sum += chunk_loss
        correct += chunk_correct
    return loss_sum, correct


def forward(params: Params, X: np.ndarray, scale: np.floating, acts: Activations) -> None:
    """Forward pass of all rows of X into ``acts``, rows split across threads."""
    n_chunks = chunk_count(X.shape[0], params.hidden, numba.get_num_threads())
    bounds = _bounds(X.shape[0], n_chunks)

    def work(c: int) -> None:
        _jit_seed.forward_rows(*params, X, scale, bounds[c], bounds[c + 1], *acts)

    _run(work, n_chunks)
