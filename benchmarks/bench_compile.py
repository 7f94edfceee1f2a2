"""JIT compile time, measured apart from run time: fresh processes, cache off (cold) and on.

Each figure is the seconds to the first train + predict result for one dtype in a new process
(see ``mnistbench.bench.measure.measure_compile_times``); recorded with ``track_`` because a
``time_`` benchmark would re-time a warm process.
"""

try:
    from mnistbench.bench.measure import measure_compile_times
except ImportError:  # commits before the application package
    from mnistbench.kernels.bench import measure_compile_times


class CompileSeconds:
    params = ["float64", "float32", "uint8->float32"]
    param_names = ["input"]
    timeout = 900
    unit = "seconds"

    def setup_cache(self):
        return measure_compile_times()

    def track_cold(self, seconds, input_label):
        return seconds["cold"][input_label]

    def track_cached(self, seconds, input_label):
        return seconds["cached"][input_label]

    track_cold.unit = "seconds"
    track_cached.unit = "seconds"
