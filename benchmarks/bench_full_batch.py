"""One full-batch gradient-descent iteration of the seed workload (41,000 x 784, hidden 10)."""

from .common import FULL_BATCH, INPUTS, full_batch_step


class FullBatchIteration:
    params = (sorted(FULL_BATCH), list(INPUTS))
    param_names = ["variant", "input"]
    timeout = 300

    def setup(self, variant, input_label):
        self.step, self.start = full_batch_step(variant, input_label)

    def time_iteration(self, variant, input_label):
        self.step(self.start, 0.1)
