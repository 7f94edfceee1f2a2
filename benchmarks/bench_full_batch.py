"""One full-batch gradient-descent iteration of the seed workload (41,000 x 784, hidden 10).

``time_iteration`` times ours (``numba``, ``numba_fused``), the reference and the ``notebook``
baseline (every registry variant and input with ``MNISTBENCH_ASV_FULL=1``).
``track_speedup_over_notebook`` records a variant's speedup over the notebook's own code,
measured in one process with interleaved rounds: a ratio keeps its meaning across machines and
time, so ``asv publish`` shows its history where absolute times drift. Commits before the
baseline existed skip it. A step takes 10-60 ms: many short samples, two processes a case.
"""

from .common import full_batch_step, speedup
from .presets import grid


class FullBatchIteration:
    params = grid("FullBatchIteration")
    param_names = ["variant", "input"]
    timeout = 120
    rounds = 2
    number = 1
    repeat = (5, 10, 1.0)
    warmup_time = 0.1

    def setup(self, variant, input_label):
        self.step, self.start = full_batch_step(variant, input_label)

    def time_iteration(self, variant, input_label):
        self.step(self.start, 0.1)


class SpeedupOverNotebook:
    params = grid("SpeedupOverNotebook")
    param_names = ["variant", "input"]
    timeout = 120

    def setup(self, variant, input_label):
        self.baseline = full_batch_step("notebook", "float64")  # skips commits without it
        self.case = full_batch_step(variant, input_label)

    def track_speedup_over_notebook(self, variant, input_label):
        return speedup(self.baseline, self.case)

    track_speedup_over_notebook.unit = "x"
