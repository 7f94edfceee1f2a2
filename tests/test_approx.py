"""The float32 tanh/erf/exp approximations of the activations (kernels/_approx.py): their maximum
error against libm over a dense grid of float32 inputs is the one stated in the module, special
values behave, float64 keeps libm bit for bit, and the activation loop they serve vectorizes
(the reason they exist). Also the kernels' cache salt (kernels/_cache.py)."""

from __future__ import annotations

import math
import re

import numba
import numpy as np
import pytest

from mnistbench.kernels import _approx, _cache, _jit_rows
from mnistbench.kernels._numba import njit, options

GRID = np.linspace(-12.0, 12.0, 1_200_001).astype(np.float32)


@njit
def _apply(which, x, out):
    for i in range(x.shape[0]):
        if which == 0:
            out[i] = _approx.tanh(x[i])
        elif which == 1:
            out[i] = _approx.erf(x[i])
        else:
            out[i] = _approx.exp(x[i])


def _run(which: int, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    _apply(which, x, out)
    return out


def test_tanh_error_against_libm():
    error = np.abs(_run(0, GRID).astype(np.float64) - np.tanh(GRID.astype(np.float64)))
    assert error.max() <= _approx.TANH_MAX_ERROR
    assert error.max() > _approx.TANH_MAX_ERROR / 10  # the stated bound is the real one


def test_erf_error_against_libm():
    want = np.array([math.erf(v) for v in GRID[::7].astype(np.float64)])
    error = np.abs(_run(1, GRID[::7]).astype(np.float64) - want)
    assert error.max() <= _approx.ERF_MAX_ERROR
    assert error.max() > _approx.ERF_MAX_ERROR / 10


def test_exp_relative_error_against_libm():
    x = np.linspace(-87.3, 88.3, 1_200_001).astype(np.float32)  # normal float32 results
    want = np.exp(x.astype(np.float64))
    relative = np.abs(_run(2, x).astype(np.float64) - want) / want
    assert relative.max() <= _approx.EXP_MAX_RELATIVE
    assert relative.max() > _approx.EXP_MAX_RELATIVE / 10
    tiny = np.linspace(-103.0, -87.4, 10_001).astype(np.float32)  # subnormal results
    assert np.abs(_run(2, tiny) - np.exp(tiny.astype(np.float64))).max() < 1e-44


@pytest.mark.parametrize(
    ("which", "x", "want"),
    [
        (0, [np.nan, np.inf, -np.inf, 0.0, 1e-30], [np.nan, 1.0, -1.0, 0.0, 1e-30]),
        (1, [np.nan, np.inf, -np.inf, 0.0, 1e-30], [np.nan, 1.0, -1.0, 0.0, 1.1283791e-30]),
        (2, [np.nan, np.inf, -np.inf, 0.0, -200.0], [np.nan, np.inf, 0.0, 1.0, 0.0]),
    ],
)
def test_special_values(which, x, want):
    got = _run(which, np.array(x, np.float32))
    np.testing.assert_allclose(got, np.array(want, np.float32), rtol=3e-7, atol=0)


@njit
def _apply64(x, out):
    for i in range(x.shape[0]):
        out[0, i] = _approx.tanh(x[i])
        out[1, i] = _approx.erf(x[i])
        out[2, i] = _approx.exp(x[i])


def test_float64_keeps_libm_bit_for_bit():
    x = np.random.default_rng(0).normal(0, 4, 1000)
    out = np.empty((3, x.size))
    _apply64(x, out)
    np.testing.assert_array_equal(out[0], [math.tanh(v) for v in x])
    np.testing.assert_array_equal(out[1], [math.erf(v) for v in x])
    np.testing.assert_array_equal(out[2], [math.exp(v) for v in x])


def test_the_float32_activation_loop_vectorizes():
    # A fresh, uncached compile of the kernel with the kernels' options: Numba shows no
    # assembly for code loaded from its cache.
    activate_row = numba.njit(**options())(_jit_rows.activate_row.py_func)
    a = np.linspace(-3, 3, 64, dtype=np.float32)
    d = np.empty_like(a)
    activate_row(a, d, _jit_rows.TANH)
    np.testing.assert_allclose(a, np.tanh(np.linspace(-3, 3, 64)), atol=_approx.TANH_MAX_ERROR)
    asm = next(iter(activate_row.inspect_asm().values()))
    # packed single-precision divisions (the rational approximations) on vector registers
    assert re.search(r"v?divps\s+[^\n]*%[xyz]mm", asm), "no packed float32 division"
    assert "tanhf" not in asm and "erff" not in asm


def test_cache_stamp_carries_the_digest_of_every_kernel_file(tmp_path):
    for name, text in (("a.py", "x = 1\n"), ("b.py", "y = 2\n")):
        (tmp_path / name).write_text(text)
    before = _cache.sources_digest(tmp_path)
    (tmp_path / "b.py").write_text("y = 3\n")  # a file other than the function's own
    assert _cache.sources_digest(tmp_path) != before
    locator = _jit_rows.activate_row._cache._impl.locator
    assert type(locator).__name__.startswith("Kernels")
    assert locator.get_source_stamp()[1] == _cache.SOURCES_DIGEST == _cache.sources_digest()
