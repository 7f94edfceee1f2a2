"""JIT compile time, measured apart from run time: one fresh process per input dtype, first
with an empty Numba cache (cold: a user's first run, which also writes the cache), then again
with the cache it wrote (cached: every later run).

Each figure is the seconds from import to the first train + full-batch step + predict result
for that dtype, the import itself excluded. The probe is the suite's own, so every commit is
measured with the same calls; a private ``NUMBA_CACHE_DIR`` keeps the user's cache out of it.
Recorded with ``track_`` because a ``time_`` benchmark would re-time a warm process. float32
by default, each input dtype with ``MNISTBENCH_ASV_FULL=1``.
"""

import json
import os
import subprocess
import sys
import tempfile

from .presets import grid

PROBE = """
import json, sys, time
import numpy as np
from mnistbench import kernels
from mnistbench.reference.model import init_params
label = sys.argv[1]
dtype = np.float64 if label == "float64" else np.float32
rng = np.random.default_rng(0)
X8 = rng.integers(0, 256, (64, 784)).astype(np.uint8)
Y = rng.integers(0, 10, 64)
X = X8 if label == "uint8->float32" else (X8 / 255.0).astype(dtype)
started = time.perf_counter()
kernels.train(X, Y, kernels.TrainConfig(epochs=1, batch_size=16, dtype=np.dtype(dtype).name))
kernels.fused_step(init_params(10, seed=0, dtype=dtype), X, Y, 0.1)
kernels.make_predictions(X, init_params(10, seed=0, dtype=dtype))
print(json.dumps(time.perf_counter() - started))
"""


def first_result_seconds(input_label: str, cache_dir: str) -> float:
    """Seconds to the first result for ``input_label`` in a new process caching in ``cache_dir``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "MNISTBENCH_NUMBA_CACHE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, input_label],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    if out.returncode != 0:
        raise RuntimeError(f"compile probe for {input_label} failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


class CompileSeconds:
    params = grid("CompileSeconds")
    param_names = ["input"]
    timeout = 300
    unit = "seconds"

    def setup_cache(self):
        seconds = {"cold": {}, "cached": {}}
        for input_label in self.params[0]:
            with tempfile.TemporaryDirectory() as cache_dir:
                seconds["cold"][input_label] = first_result_seconds(input_label, cache_dir)
                seconds["cached"][input_label] = first_result_seconds(input_label, cache_dir)
        return seconds

    setup_cache.timeout = 600

    def track_cold(self, seconds, input_label):
        return seconds["cold"][input_label]

    def track_cached(self, seconds, input_label):
        return seconds["cached"][input_label]

    track_cold.unit = "seconds"
    track_cached.unit = "seconds"
