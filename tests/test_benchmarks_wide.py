"""pytest-benchmark group ``wide``: one training epoch of wide and deep MLPs per engine.

Skipped by plain ``pytest``; run ``pytest tests/test_benchmarks_wide.py --benchmark-only``.
Every engine runs in a worker process of its own (:mod:`mnistbench.bench.isolated`), never beside
Numba's thread pool or another library's, and is checked against the reference before it is
timed; the timing includes one round trip over a pipe (~0.1 ms, under 0.1% of an epoch).
"""

from __future__ import annotations

import os

import pytest

from mnistbench.bench import wide
from mnistbench.bench.isolated import Workers

ROWS = 4_096
BATCH = 128


@pytest.mark.benchmark(group="wide")
@pytest.mark.parametrize("engine", wide.ENGINES)
@pytest.mark.parametrize("hidden", [(10,), (128,), (512,), (512, 256)], ids=str)
def test_wide_epoch(benchmark, hidden, engine):
    if not wide.engine_available(engine):
        pytest.skip(f"{engine} is not installed")
    sizes = (784, *hidden, 10)
    with Workers(threads=os.cpu_count() or 1) as workers:
        workers.add(
            "epoch",
            engine,
            "mnistbench.bench.cases:wide_epoch",
            engine=engine,
            sizes=sizes,
            batch_size=BATCH,
            m=ROWS,
        )  # raises: a wrong case is never timed
        benchmark.extra_info["gflop_per_epoch"] = wide.epoch_flops(ROWS, sizes) / 1e9
        benchmark.extra_info["process"] = workers.facts(engine)
        benchmark.pedantic(workers.run, args=("epoch",), rounds=5, warmup_rounds=0)
