"""Splitting one batch of samples across threads for the fused kernel.

Each thread runs the serial, GIL-free ``_jit.accumulate`` on its own contiguous chunk of the
batch into its own accumulator; the chunks' sums are then reduced serially in chunk order, so a
given thread count always gives bit-identical results. Python threads are used instead of a
``prange`` region because a ``parallel=True`` function around the fused kernel more than doubled
its cold compile time (measured: ~6 s for the parallel driver alone vs ~2.7 s serial), while the
dispatch cost here (tens of microseconds) is noise next to a chunk of at least
MIN_WORK_PER_CHUNK units of work. The thread count is Numba's (``NUMBA_NUM_THREADS``,
``numba.set_num_threads``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from mnistbench.reference.model import Params

from . import _jit

# A chunk needs at least this much work, in samples x hidden units (the cost of a sample grows
# with the hidden width), to be worth a thread: 256 samples of the seed's 10-unit network.
MIN_WORK_PER_CHUNK = 256 * 10

_pools: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _pools:
        _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="mnistbench")
    return _pools[workers]


def chunk_count(n_rows: int, hidden: int, max_chunks: int) -> int:
    """How many threads a batch of ``n_rows`` samples is split across (at least 1)."""
    threads = min(numba.get_num_threads(), max_chunks)
    return max(1, min(threads, n_rows * hidden // MIN_WORK_PER_CHUNK))


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
    n = rows.shape[0]
    bounds = [c * n // n_chunks for c in range(n_chunks + 1)]

    def work(c: int) -> tuple[float, int]:
        chunk = rows[bounds[c] : bounds[c + 1]]
        return _jit.accumulate(*params, X, Y, chunk, scale, acc.W1[c], acc.b1[c], acc.W2[c],
                               acc.b2[c])  # fmt: skip

    if n_chunks == 1:
        results = [work(0)]
    else:
        futures = [_pool(n_chunks - 1).submit(work, c) for c in range(1, n_chunks)]
        results = [work(0)] + [f.result() for f in futures]
    loss_sum = 0.0
    correct = 0
    for chunk_loss, chunk_correct in results:
        loss_sum += chunk_loss
        correct += chunk_correct
    return loss_sum, correct
