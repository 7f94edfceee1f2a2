"""One mini-batch SGD epoch over the 41,000 seed-workload samples."""

from .common import MINIBATCH, minibatch_epoch


class MinibatchEpoch:
    params = (sorted(MINIBATCH), ["float64", "float32", "uint8->float32"], [32, 128, 512])
    param_names = ["variant", "input", "batch_size"]
    timeout = 600
    number = 1
    repeat = (3, 7, 30.0)

    def setup(self, variant, input_label, batch_size):
        self.epoch, self.start, self.order = minibatch_epoch(variant, input_label)

    def time_epoch(self, variant, input_label, batch_size):
        self.epoch(self.start, self.order, batch_size, 0.01)
