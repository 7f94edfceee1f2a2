"""Workload sizes, one table (as NPBench keeps its presets in one file).

``seed`` is the notebook's training set: the 42,000 rows of Kaggle's ``train.csv`` less the 1,000
held out for dev, 784 pixels, 10 hidden ReLU units, 10 classes. ``mnistbench bench`` times it
(``--quick``: the ``quick`` preset), asv's seed benchmarks and the bench-round recordings use it,
and :func:`mnistbench.reference.data.seed_scale_matrix` builds it by default. The module itself
imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    """rows x n_in inputs through one hidden layer of ``hidden`` units to ``n_out`` classes."""

    rows: int
    n_in: int = 784
    hidden: int = 10
    n_out: int = 10


WORKLOADS = {
    "seed": Workload(rows=41_000),
    "quick": Workload(rows=4_000),  # mnistbench bench --quick: a tenth of the seed's rows
}
SEED = WORKLOADS["seed"]
QUICK = WORKLOADS["quick"]
