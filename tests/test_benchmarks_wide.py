"""pytest-benchmark group ``wide``: one training epoch of wide and deep MLPs per engine.

Skipped by plain ``pytest``; run ``pytest tests/test_benchmarks_wide.py --benchmark-only``.
Every case is checked against the reference's epoch before it is timed.
"""

from __future__ import annotations

import numpy as np
import pytest

from mnistbench.bench import wide

ROWS = 4_096
BATCH = 128


@pytest.mark.benchmark(group="wide")
@pytest.mark.parametrize("engine", ["numba", "numpy", "torch"])
@pytest.mark.parametrize("hidden", [(10,), (128,), (512,), (512, 256)], ids=str)
def test_wide_epoch(benchmark, hidden, engine):
    X, y, _ = wide.workload(ROWS)
    sizes = (X.shape[1], *hidden, 10)
    wide.check(X, y, sizes, BATCH)  # raises: a wrong kernel is never timed
    order = np.random.default_rng(0).permutation(len(y))
    cases = wide.cases_for(X, y, sizes, order, BATCH, {engine})
    if engine not in cases:
        pytest.skip(f"{engine} is not installed")
    benchmark.extra_info["gflop_per_epoch"] = wide.epoch_flops(ROWS, sizes) / 1e9
    benchmark.pedantic(cases[engine], rounds=5, warmup_rounds=1)
