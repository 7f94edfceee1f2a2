"""On-the-fly augmentation: images/s of the Numba kernels against the same transform in
scipy.ndimage (same threads), and epoch time of training with augmentation on against off.

Every setup checks before timing: the kernels against the scipy oracle, the augmenting epoch of
the Numba engine against the NumPy engine's (mnistbench.bench.augment refuses otherwise).
"""

import numba
import numpy as np

try:
    from mnistbench.bench import augment as bench_augment
except ImportError:  # commits before augmentation in training
    bench_augment = None

TRANSFORMS = ["affine", "elastic", "noise", "all"]
KERNEL_IMAGES = 4000
SCIPY_IMAGES = 250


def _module():
    if bench_augment is None:
        raise NotImplementedError("this commit has no augmentation benchmarks")
    return bench_augment


class AugmentThroughput:
    """Seconds to augment a set of digits in batches of 128; ``track_*`` gives images/s."""

    params = (TRANSFORMS, ["numba", "scipy"])
    param_names = ["transform", "implementation"]
    timeout = 300
    number = 1
    repeat = (3, 7, 30.0)

    def setup(self, transform, implementation):
        module = _module()
        X, _ = module.training_digits()
        config = module.TRANSFORMS[transform]
        module.check_kernel(X, config, transform)
        threads = numba.get_num_threads()
        if implementation == "numba":
            self.images = KERNEL_IMAGES
            self.run = module.kernel_run(X, np.arange(KERNEL_IMAGES), config)
        else:
            self.images = SCIPY_IMAGES
            self.run = module.scipy_run(X, np.arange(SCIPY_IMAGES), config, threads)
        self.run()

    def time_images(self, transform, implementation):
        self.run()

    def track_images_per_second(self, transform, implementation):
        return self.images / min(_seconds(self.run) for _ in range(3))

    track_images_per_second.unit = "images/s"


class AugmentedEpoch:
    """One adam epoch over the 4,000 training digits, hidden 128, batch 128, float32."""

    params = (["off", "affine", "elastic", "noise", "all"],)
    param_names = ["augment"]
    timeout = 300
    number = 1
    repeat = (3, 7, 30.0)

    def setup(self, augment):
        module = _module()
        X, y = module.training_digits()
        config = None if augment == "off" else module.TRANSFORMS[augment]
        if config is not None:
            module.check_epoch(X, y, 128, config)
        self.epoch = module.epoch_functions("numba", X, y, 128, np.float32, config)
        self.plain = module.epoch_functions("numba", X, y, 128, np.float32, None)
        self.order = np.random.default_rng(0).permutation(X.shape[0])
        self.epoch(self.order)
        self.plain(self.order)

    def time_epoch(self, augment):
        self.epoch(self.order)

    def track_time_vs_off(self, augment):
        """median(epoch with augmentation) / median(epoch without), 7 interleaved rounds."""
        times = ([], [])
        for _ in range(7):
            for run, store in ((self.epoch, times[0]), (self.plain, times[1])):
                store.append(_seconds(lambda run=run: run(self.order)))
        return float(np.median(times[0]) / np.median(times[1]))

    track_time_vs_off.unit = "ratio"


def _seconds(run):
    import time

    started = time.perf_counter()
    run()
    return time.perf_counter() - started
