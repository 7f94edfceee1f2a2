"""A fixed yardstick of the machine's speed, timed beside the cases so it can be divided out.

``mnistbench bench`` times it in every round beside the cases, and ``--compare`` divides two runs'
ratios by its own, so a machine that was faster or slower as a whole between the runs does not read
as a change of the code.

It must not change between commits (its time is the unit): a plain parallel loop of dot products
over a fixed float32 matrix, threaded like the kernels it stands beside (Numba's pool, so it
suffers what they suffer when another process takes a core; a BLAS call would not: OpenBLAS
threads spin on each other and slow down 10x and more beside a CPU hog). Version it
(:data:`VERSION`) if it ever has to change; ``--compare`` only divides runs of one version.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._numba import njit

VERSION = "dot-16x784-cached/2"
# 512 x 784 float32 (1.6 MB: cache-resident, so where it lands in memory does not matter),
# swept PASSES times: 0.39 GFLOP, ~5 ms on two cores.
ROWS, COLUMNS, OUTPUTS, PASSES = 512, 784, 16, 30


@njit(parallel=True)
def _dots(X, W, out, passes):
    for i in prange(X.shape[0]):
        for _ in range(passes):
            for j in range(W.shape[0]):
                acc = np.float32(0.0)
                for k in range(X.shape[1]):
                    acc += X[i, k] * W[j, k]
                out[i, j] += acc


def yardstick():
    """``run()``: one pass of the fixed kernel over its fixed inputs (made once here)."""
    rng = np.random.default_rng(0)
    X = rng.random((ROWS, COLUMNS), dtype=np.float32)
    W = rng.random((OUTPUTS, COLUMNS), dtype=np.float32)
    out = np.zeros((ROWS, OUTPUTS), np.float32)

    def run() -> None:
        _dots(X, W, out, PASSES)

    return run
