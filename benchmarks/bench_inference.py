"""Inference throughput: predicted labels for the 41,000 seed-workload samples."""

import time
from functools import cache

import numpy as np

from mnistbench import kernels
from mnistbench.reference import model

from .common import INPUTS, pixels
from .presets import grid


@cache
def _case(engine: str, input_label: str):
    """(predict, X, params) checked against the reference on 2,000 rows and run once on all."""
    dtype, kind = INPUTS[input_label]
    params = kernels.init_params(10, seed=0, dtype=dtype)
    if engine == "reference":
        X, predict = pixels(dtype, "float"), model.make_predictions
    else:
        X, predict = pixels(dtype, kind), kernels.make_predictions
    expected = model.make_predictions(pixels(dtype, "float")[:2000], params)
    if not np.array_equal(predict(X[:2000], params), expected):
        raise RuntimeError(f"refusing to time {engine}: predictions differ from the reference")
    predict(X, params)  # every code path of the full size compiled and warm
    return predict, X, params


class Predict:
    params = grid("Predict")
    param_names = ["engine", "input"]
    timeout = 120
    rounds = 1
    number = 1
    repeat = (5, 10, 1.0)
    warmup_time = 0.1

    def setup(self, engine, input_label):
        self.predict, self.X, self.params_ = _case(engine, input_label)

    def time_predict(self, engine, input_label):
        self.predict(self.X, self.params_)

    def track_samples_per_second(self, engine, input_label):
        """41,000 over the fastest of 3 calls."""
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            self.predict(self.X, self.params_)
            seconds.append(time.perf_counter() - started)
        return len(self.X) / min(seconds)

    track_samples_per_second.unit = "samples/s"
