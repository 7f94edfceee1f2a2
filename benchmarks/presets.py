"""Workload sizes and parameter grids of the asv suite, both modes in one place.

The default grid keeps the cases that track what a commit changes: the seed's full-batch step
(ours against the notebook), one mini-batch epoch, one wide epoch, the cold and cached compile
of float32, augmentation, inference, the accuracy two training runs reach and one epoch's peak
memory. It is sized so that one commit's ``asv run`` takes about 2 minutes on 2 cores.
``MNISTBENCH_ASV_FULL=1`` (asv passes the environment to every benchmark process) runs every
registry variant, input and batch size, the wide 512 / (512, 256) / 1024 nets and the peers
(PyTorch, ``torch.compile``, JAX), compile time per input dtype, and scipy's augmentation.

Every default case is also a case of the full grid, under the same name and parameters, so the
two modes' results of one commit sit side by side in ``.asv/results`` and a benchmark's history
never mixes workloads. This module imports nothing heavy: tests read it without NumPy.
"""

from __future__ import annotations

import os

FULL = os.environ.get("MNISTBENCH_ASV_FULL", "").strip() not in ("", "0")

SEED_ROWS = 41_000  # the seed's training-set size: every seed-workload benchmark
WIDE_ROWS = 8_192  # a wide epoch: 64 batches of 128, long enough to time, short enough for asv
AUGMENT_KERNEL_IMAGES = 4_000
AUGMENT_SCIPY_IMAGES = 250

ALL_INPUTS = ["float64", "float32", "uint8->float32"]
# every variant of the registry (tests/test_asv.py checks the lists stay complete)
FULL_BATCH_VARIANTS = ["jax", "notebook", "numba_fused", "numba_unfused", "reference"]
FULL_BATCH_VARIANTS += ["torch", "torch_autograd", "torch_compile"]
MINIBATCH_VARIANTS = ["jax", "numba_fused", "reference", "torch", "torch_compile"]

# class name -> (default params, full params); each a tuple of value lists, one per param name.
# A variant, engine or input a commit lacks is skipped there (setup raises NotImplementedError).
GRIDS: dict[str, tuple[tuple[list, ...], tuple[list, ...]]] = {
    "FullBatchIteration": (
        (["notebook", "numba_unfused", "numba_fused"], ["float64", "uint8->float32"]),
        (FULL_BATCH_VARIANTS, ALL_INPUTS),
    ),
    "SpeedupOverNotebook": (
        (["numba_fused"], ["float64", "uint8->float32"]),
        (
            [variant for variant in FULL_BATCH_VARIANTS if variant != "notebook"],
            ALL_INPUTS,
        ),
    ),
    "MinibatchEpoch": (
        (["reference", "numba_fused"], ["float32", "uint8->float32"], [128]),
        (MINIBATCH_VARIANTS, ALL_INPUTS, [32, 128, 512]),
    ),
    "Predict": (
        (["numba"], ["float32", "uint8->float32"]),
        (["reference", "numba"], ALL_INPUTS),
    ),
    "CompileSeconds": (
        (["float32"],),
        (ALL_INPUTS,),
    ),
    "SeedRunAccuracy": (
        (["numba"],),
        (["numba", "numpy"],),  # numpy: ~30 CPU seconds for 500 steps of 4,000 rows
    ),
    "TrainingMemory": (
        (["numba_fused"],),
        (["reference", "numba_fused"],),
    ),
    "WideEpoch": (
        (["128"], ["numba"]),
        (
            ["10", "128", "512", "512,256", "1024"],
            ["numba", "numpy", "torch", "torch_compile", "jax"],
        ),
    ),
    "AugmentThroughput": (
        (["all"], ["numba"]),
        (["affine", "elastic", "noise", "all"], ["numba", "scipy"]),
    ),
    "AugmentedEpoch": (
        (["all"],),
        (["off", "affine", "elastic", "noise", "all"],),
    ),
}


def grid(name: str, full: bool | None = None) -> tuple[list, ...]:
    """The parameter lists of benchmark class ``name`` in the default or the full mode.

    ``full=None`` follows ``MNISTBENCH_ASV_FULL``. Raises KeyError for a class with no grid.
    """
    if name not in GRIDS:
        raise KeyError(f"no grid for {name!r}; known: {', '.join(sorted(GRIDS))}")
    default, every = GRIDS[name]
    return every if (FULL if full is None else full) else default
