"""One mini-batch SGD epoch over the 41,000 seed-workload samples (batch 128 by default; every
variant, input and batch size 32 / 128 / 512 with ``MNISTBENCH_ASV_FULL=1``).
"""

from .common import minibatch_epoch
from .presets import grid


class MinibatchEpoch:
    params = grid("MinibatchEpoch")
    param_names = ["variant", "input", "batch_size"]
    timeout = 180
    rounds = 1
    number = 1
    repeat = (3, 7, 2.0)
    warmup_time = 0.1

    def setup(self, variant, input_label, batch_size):
        self.epoch, self.start, self.order = minibatch_epoch(variant, input_label, batch_size)

    def time_epoch(self, variant, input_label, batch_size):
        self.epoch(self.start, self.order, batch_size, 0.01)
