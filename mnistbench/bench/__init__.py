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

Thread pinning has to happen before NumPy and Numba start their pools, so ``run.run`` re-executes
the command once with ``NUMBA_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/
``MKL_NUM_THREADS`` set when they do not already match ``--threads``.
"""

from .run import configure_parser, main, run

__all__ = ["configure_parser", "main", "run"]
