"""Inference throughput: predicted labels for the 41,000 seed-workload samples."""

import numpy as np

from mnistbench import kernels
from mnistbench.reference import model

from .common import INPUTS, pixels


class Predict:
    params = (["reference", "numba"], list(INPUTS))
    param_names = ["engine", "input"]

    def setup(self, engine, input_label):
        dtype, kind = INPUTS[input_label]
        self.params_ = kernels.init_params(10, seed=0, dtype=dtype)
        self.X = pixels(dtype, kind)
        if engine == "reference":
            self.X = pixels(dtype, "float")
            self.predict = model.make_predictions
        else:
            self.predict = kernels.make_predictions
        expected = model.make_predictions(pixels(dtype, "float")[:2000], self.params_)
        if not np.array_equal(self.predict(self.X[:2000], self.params_), expected):
            raise RuntimeError(f"refusing to time {engine}: predictions differ from the reference")

    def time_predict(self, engine, input_label):
        self.predict(self.X, self.params_)

    def track_samples_per_second(self, engine, input_label):
        import time

        started = time.perf_counter()
        self.predict(self.X, self.params_)
        return len(self.X) / (time.perf_counter() - started)

    track_samples_per_second.unit = "samples/s"
