"""On-the-fly augmentation: images/s of the Numba kernels (and, with ``MNISTBENCH_ASV_FULL=1``,
of the same transform in scipy.ndimage, same threads), and epoch time of training with
augmentation on, with its ratio to the same epoch with augmentation off.

Every case is checked before timing: the kernels against the scipy oracle, the augmenting epoch
of the Numba engine against the NumPy engine's (mnistbench.bench.augment refuses otherwise).
"""

import time
from functools import cache

import numba
import numpy as np

from .presets import AUGMENT_KERNEL_IMAGES, AUGMENT_SCIPY_IMAGES, grid

try:
    from mnistbench.bench import augment as bench_augment
except ImportError:  # commits before augmentation in training
    bench_augment = None

KERNEL_IMAGES = AUGMENT_KERNEL_IMAGES
SCIPY_IMAGES = AUGMENT_SCIPY_IMAGES


def _module():
    if bench_augment is None:
        raise NotImplementedError("this commit has no augmentation benchmarks")
    return bench_augment


@cache
def _throughput_case(transform: str, implementation: str):
    """(run, images): run() augments ``images`` digits in batches of 128; checked, run once."""
    module = _module()
    X, _ = module.training_digits()
    config = module.TRANSFORMS[transform]
    module.check_kernel(X, config, transform)
    if implementation == "numba":
        images = KERNEL_IMAGES
        run = module.kernel_run(X, np.arange(KERNEL_IMAGES), config)
    else:
        images = SCIPY_IMAGES
        run = module.scipy_run(X, np.arange(SCIPY_IMAGES), config, numba.get_num_threads())
    run()
    return run, images


@cache
def _epoch_case(augment: str):
    """(epoch, plain, order): adam epochs with and without augmentation; checked, run once."""
    module = _module()
    X, y = module.training_digits()
    config = None if augment == "off" else module.TRANSFORMS[augment]
    if config is not None:
        module.check_epoch(X, y, 128, config)
    epoch = module.epoch_functions("numba", X, y, 128, np.float32, config)
    plain = module.epoch_functions("numba", X, y, 128, np.float32, None)
    order = np.random.default_rng(0).permutation(X.shape[0])
    epoch(order)
    plain(order)
    return epoch, plain, order


class AugmentThroughput:
    """Seconds to augment a set of digits in batches of 128; ``track_*`` gives images/s."""

    params = grid("AugmentThroughput")
    param_names = ["transform", "implementation"]
    timeout = 180
    rounds = 1
    number = 1
    repeat = (3, 7, 2.0)
    warmup_time = 0.1

    def setup(self, transform, implementation):
        self.run, self.images = _throughput_case(transform, implementation)

    def time_images(self, transform, implementation):
        self.run()

    def track_images_per_second(self, transform, implementation):
        return self.images / min(_seconds(self.run) for _ in range(3))

    track_images_per_second.unit = "images/s"


class AugmentedEpoch:
    """One adam epoch over the 4,000 training digits, hidden 128, batch 128, float32."""

    params = grid("AugmentedEpoch")
    param_names = ["augment"]
    timeout = 180
    rounds = 1
    number = 1
    repeat = (3, 7, 2.0)
    warmup_time = 0.1

    def setup(self, augment):
        self.epoch, self.plain, self.order = _epoch_case(augment)

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
    started = time.perf_counter()
    run()
    return time.perf_counter() - started
