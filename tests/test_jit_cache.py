"""The on-disk JIT cache: on by default, off on request, and never fatal when unavailable."""

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
