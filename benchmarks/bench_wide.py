"""Training epochs of wide and deep MLPs: the Numba engine, the NumPy layer stack and the peer
loops (PyTorch eager and ``torch.compile``d, JAX ``jax.jit`` + optax; where installed), Adam,
float32, uint8 pixels in, batch 128, 8,192 seed-scale rows.

asv runs every benchmark in a process of its own, so no peer shares a process with Numba's
thread pool. Each case is checked against the reference before timing (our epoch against the
reference's epoch, a peer's gradients against the reference's backward) and run twice before
it is timed (compilation, and a recompilation for the remainder batch). ``track_gflops``
records the achieved rate, so a kernel change shows as a rate across commits whatever the
machine's absolute speed. Hidden 128 for ours by default; with ``MNISTBENCH_ASV_FULL=1`` also
hidden 10, 512, (512, 256) and 1024 and the peers.
"""

import time
from functools import cache

import numpy as np

from .presets import WIDE_ROWS, grid

try:
    from mnistbench.bench import wide
except ImportError:  # commits before the layer-stack kernels
    wide = None

ROWS = WIDE_ROWS
BATCH = 128


@cache
def _case(hidden: str, engine: str):
    """(run, sizes): run() trains one more epoch; checked against the reference, run twice."""
    if wide is None:
        raise NotImplementedError("this commit has no layer-stack benchmarks")
    X, y, _ = wide.workload(ROWS)
    sizes = (X.shape[1], *map(int, hidden.split(",")), 10)
    order = np.random.default_rng(0).permutation(len(y))
    if not hasattr(wide, "epoch_case"):  # commits before the isolated peers
        wide.check(X, y, sizes, BATCH)
        cases = wide.cases_for(X, y, sizes, order, BATCH, {engine})
        if engine not in cases:
            raise NotImplementedError(f"{engine} is not in this commit or not installed")
        run = cases[engine]
    elif not wide.engine_available(engine):
        raise NotImplementedError(f"{engine} is not installed")
    else:
        run = wide.epoch_case(engine, X, y, sizes, order, BATCH)  # checks first
    run()
    run()  # compiled peers may recompile once for the remainder batch
    return run, sizes


class WideEpoch:
    params = grid("WideEpoch")
    param_names = ["hidden", "engine"]
    timeout = 300  # torch.compile of (512, 256) in full mode on a loaded machine
    rounds = 1
    number = 1
    repeat = (3, 7, 2.0)
    warmup_time = 0.1

    def setup(self, hidden, engine):
        self.run, self.sizes = _case(hidden, engine)

    def time_epoch(self, hidden, engine):
        self.run()

    def track_gflops(self, hidden, engine):
        """The epoch's FLOPs over the fastest of 3 epochs, in GFLOP/s."""
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            self.run()
            seconds.append(time.perf_counter() - started)
        return wide.epoch_flops(ROWS, self.sizes) / min(seconds) / 1e9

    track_gflops.unit = "GFLOP/s"
