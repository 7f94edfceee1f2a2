"""Deprecated alias of :mod:`mnistbench.bench.variants` (moved in 0.2.0; removed in 0.3.0).

Note that the registry's ``"numba"`` entries are now ``"numba_unfused"`` (full batch) and
``"numba_fused"`` (mini-batch): see :data:`mnistbench.bench.variants.RENAMED`.
"""

import warnings

from mnistbench.bench.variants import *  # noqa: F403
from mnistbench.bench.variants import __all__  # noqa: F401

warnings.warn(
    "mnistbench.variants moved to mnistbench.bench.variants in 0.2.0; the old path is removed in "
    "0.3.0",
    DeprecationWarning,
    stacklevel=2,
)
