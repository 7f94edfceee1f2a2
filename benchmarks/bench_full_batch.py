"""One full-batch gradient-descent iteration of the seed workload (41,000 x 784, hidden 10).

``time_iteration`` covers every registry variant, the ``notebook`` baseline included.
``track_speedup_over_notebook`` records each variant's speedup over the notebook's own code,
measured in one process with interleaved rounds: a ratio keeps its meaning across machines and
time, so ``asv publish`` shows its history where absolute times drift. Commits before the
baseline existed skip it.
"""

from .common import BASELINES, FULL_BATCH, INPUTS, full_batch_step, speedup


class FullBatchIteration:
    params = (sorted(FULL_BATCH), list(INPUTS))
    param_names = ["variant", "input"]
    timeout = 300

    def setup(self, variant, input_label):
        self.step, self.start = full_batch_step(variant, input_label)

    def time_iteration(self, variant, input_label):
        self.step(self.start, 0.1)


class SpeedupOverNotebook:
    params = (sorted(set(FULL_BATCH) - BASELINES), list(INPUTS))
    param_names = ["variant", "input"]
    timeout = 300

    def setup(self, variant, input_label):
        if "notebook" not in FULL_BATCH:
            raise NotImplementedError("this commit has no notebook baseline")
        self.baseline = full_batch_step("notebook", "float64")
        self.case = full_batch_step(variant, input_label)

    def track_speedup_over_notebook(self, variant, input_label):
        return speedup(self.baseline, self.case)

    track_speedup_over_notebook.unit = "x"
