"""The on-disk JIT cache: on by default, off on request, never fatal when unavailable, and
giving the same results as kernels compiled in the process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


PREDICT = """
import numpy as np
from mnistbench import kernels
from mnistbench.kernels import _jit_seed
params = kernels.init_params(4, seed=0)
X = np.zeros((3, 784), np.uint8)
print(type(_jit_seed.accumulate._cache).__name__, kernels.make_predictions(X, params).tolist())
"""


@pytest.mark.parametrize(
    ("setting", "expected"), [("1", "FunctionCache"), ("0", "NullCache")], ids=["on", "off"]
)
def test_cache_switch(setting, expected):
    result = _run(PREDICT, MNISTBENCH_NUMBA_CACHE=setting)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == expected


def test_kernels_still_work_when_no_cache_directory_is_writable():
    # Numba raises "no locator available" at decoration time when neither the package's
    # __pycache__ nor the user-wide cache dir can be written (read-only installs).
    result = _run(
        """
import numba
real_njit = numba.njit

def njit_on_read_only_install(*args, **kwargs):
    if kwargs.get("cache"):
        raise RuntimeError("cannot cache function 'f': no locator available for file")
    return real_njit(*args, **kwargs)

numba.njit = njit_on_read_only_install
"""
        + PREDICT
    )
    assert result.returncode == 0, result.stderr
    cache_kind, labels = result.stdout.split(maxsplit=1)
    assert cache_kind == "NullCache"
    assert labels.strip() == str(_reference_labels())


def _reference_labels() -> list[int]:
    import numpy as np

    from mnistbench.reference import model

    return model.make_predictions(np.zeros((3, 784)), model.init_params(4, seed=0)).tolist()


ADAM_EPOCHS = """
import hashlib
import numpy as np
from mnistbench.kernels import network as kn
from mnistbench.kernels.augment import AugmentConfig, augment_batch
from mnistbench.kernels.regularized import regularized_epoch
from mnistbench.reference.batchnorm import init_batch_norm, init_running_stats
from mnistbench.reference.regularized import init_regularized_state
from mnistbench.reference import network as rn
from mnistbench.reference.optim import OptimizerConfig, init_state
rng = np.random.default_rng(1)
X, Y = rng.integers(0, 256, (64, 784), dtype=np.uint8), rng.integers(0, 10, 64)
digest = hashlib.sha256()
for dtype in (np.float32, np.float64):
    for activation in rn.ACTIVATIONS:
        net = rn.init_network((784, 16, 12, 10), activation=activation, seed=0, dtype=dtype)
        state = init_state(net)
        for _ in range(3):
            net, loss, _ = kn.network_epoch(net, X, Y, np.arange(64), 32, 1e-2, state,
                                            OptimizerConfig("adam"), 1e-4, activation)
            digest.update(b"".join(a.tobytes() for a in (*net, *state.first, *state.second)))
        digest.update(kn.predict_proba(net, X, activation).tobytes())
    # Dropout and batch norm: a specialisation of network_job of their own.
    net = rn.init_network((784, 16, 12, 10), seed=0, dtype=dtype)
    bn = init_batch_norm((16, 12), dtype)
    running, state = init_running_stats(bn), init_regularized_state(net, bn)
    for _ in range(3):
        net, bn, loss, _ = regularized_epoch(net, X, Y, np.arange(64), 32, 1e-2, state,
                                             OptimizerConfig("adam"), dropout=0.25, bn=bn,
                                             running=running)
        digest.update(b"".join(a.tobytes() for a in (*net, *bn, *running.mean, *running.var)))
for config in (AugmentConfig(rotate=10, scale=0.1, shift=2), AugmentConfig(elastic_alpha=34,
               elastic_sigma=4), AugmentConfig(noise=0.05)):
    digest.update(augment_batch(X, np.arange(64), seed=1, epoch=2, config=config,
                                dtype=np.float64).tobytes())
print(digest.hexdigest())
"""


@pytest.mark.slow
def test_a_cold_cache_and_a_warm_one_give_the_same_bits(tmp_path):
    """Kernels compiled in this process and kernels loaded from the disk cache train alike.

    Every activation, two hidden layers, L2, Adam, float32 and float64, then the probabilities;
    dropout with batch norm (their kernels are called from network_job, not inlined: batch norm
    differed until they compiled exact); then each augmentation in float64 (affine augmentation
    also differed: a bilinear sample's multiply-adds).

    Float32 Adam once differed (~1e-9 in the loss) between the two: each copy of the optimizer
    step paired its multiply-adds its own way (kernels/_numba.py's ``exact``).
    """
    runs = [_run(ADAM_EPOCHS, NUMBA_CACHE_DIR=str(tmp_path)) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert any(tmp_path.rglob("*.nbc")), "the first run left no cache for the second to load"
    assert runs[0].stdout == runs[1].stdout
