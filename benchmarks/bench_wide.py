"""Training epochs of wide and deep MLPs: the Numba engine, the NumPy layer stack and the peer
loops (PyTorch eager and ``torch.compile``d, JAX ``jax.jit`` + optax; where installed), Adam,
float32, uint8 pixels in, batch 128.

asv runs every benchmark in a process of its own, so no peer shares a process with Numba's
thread pool. Each setup checks the case against the reference before timing (our epoch against
the reference's epoch, a peer's gradients against the reference's backward); ``track_gflops``
records the achieved rate, so a kernel change shows as a rate across commits whatever the
machine's absolute speed.
"""

import numpy as np

try:
    from mnistbench.bench import wide
except ImportError:  # commits before the layer-stack kernels
    wide = None

ROWS = 8_192  # an epoch over 64 batches of 128: long enough to time, short enough for asv
BATCH = 128


class WideEpoch:
    params = (
        ["10", "128", "512", "512,256", "1024"],
        ["numba", "numpy", "torch", "torch_compile", "jax"],
    )
    param_names = ["hidden", "engine"]
    timeout = 600
    number = 1
    repeat = (3, 7, 60.0)

    def setup(self, hidden, engine):
        if wide is None:
            raise NotImplementedError("this commit has no layer-stack benchmarks")
        X, y, _ = wide.workload(ROWS)
        self.sizes = (X.shape[1], *map(int, hidden.split(",")), 10)
        order = np.random.default_rng(0).permutation(len(y))
        if not hasattr(wide, "epoch_case"):  # commits before the isolated peers
            wide.check(X, y, self.sizes, BATCH)
            cases = wide.cases_for(X, y, self.sizes, order, BATCH, {engine})
            if engine not in cases:
                raise NotImplementedError(f"{engine} is not in this commit or not installed")
            self.run = cases[engine]
        elif not wide.engine_available(engine):
            raise NotImplementedError(f"{engine} is not installed")
        else:
            self.run = wide.epoch_case(engine, X, y, self.sizes, order, BATCH)  # checks first
        self.run()
        self.run()  # compiled peers may recompile once for the remainder batch

    def time_epoch(self, hidden, engine):
        self.run()

    def track_gflops(self, hidden, engine):
        import time

        started = time.perf_counter()
        self.run()
        return wide.epoch_flops(ROWS, self.sizes) / (time.perf_counter() - started) / 1e9

    track_gflops.unit = "GFLOP/s"
