"""asv benchmarks for mnistbench.

Thread pools are pinned here, before NumPy or Numba start them (asv imports this package first):
``NUMBA_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS``
default to ``MNISTBENCH_THREADS`` or the machine's core count. Set them yourself to override.
"""

import os

_threads = os.environ.get("MNISTBENCH_THREADS", str(os.cpu_count() or 1))
for _name in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, _threads)
