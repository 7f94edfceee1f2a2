"""Software prefetch (kernels/_jit_prefetch.py): a hint the compiled code really carries, that
changes nothing it touches."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from mnistbench.kernels import _jit_prefetch, _jit_seed

# x86 prefetch instructions (the hint "read, keep in every level" is prefetcht0), ARM prfm.
PREFETCH = re.compile(r"\bprefetch(t0|t1|t2|nta|w)?\b|\bprfm\b")


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("width", [0, 1, 15, 16, 17, 63, 64, 65, 784])
def test_prefetching_a_row_changes_nothing(dtype, width):
    X = np.arange(3 * width, dtype=dtype).reshape(3, width)
    before = X.copy()
    for r in range(3):
        _jit_prefetch.prefetch_row(X, r)
    np.testing.assert_array_equal(X, before)


def _fresh(kernel):
    """``kernel`` compiled anew (cached machine code cannot be inspected)."""
    options = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}
    return numba.njit(kernel.py_func, **options)


def test_the_hint_is_in_the_machine_code():
    kernel = _fresh(_jit_prefetch.prefetch_row)
    kernel(np.zeros((2, 784), np.uint8), 1)
    (signature,) = kernel.signatures
    assert PREFETCH.search(kernel.inspect_asm(signature))


def test_the_fused_pass_prefetches_rows_ahead_of_its_block():
    kernel = _fresh(_jit_seed.accumulate)
    W1, b1 = np.zeros((10, 784), np.float32), np.zeros(10, np.float32)
    W2, b2 = np.zeros((10, 10), np.float32), np.zeros(10, np.float32)
    X, Y = np.zeros((8, 784), np.uint8), np.zeros(8, np.int64)
    grads = (np.zeros_like(W1), np.zeros_like(b1), np.zeros_like(W2), np.zeros_like(b2))
    kernel(W1, b1, W2, b2, X, Y, np.arange(8), np.float32(1 / 255), *grads)
    (signature,) = kernel.signatures
    assert PREFETCH.search(kernel.inspect_asm(signature))


def test_only_1d_arrays_and_integer_indices_are_accepted():
    @numba.njit
    def on_a_2d_array(X):
        _jit_prefetch._prefetch(X, 0)

    with pytest.raises(numba.core.errors.TypingError):
        on_a_2d_array(np.zeros((2, 2)))


def test_a_strided_row_is_accepted_and_unchanged():
    X = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    before = X.copy()
    _jit_prefetch.prefetch_row(X, 1)
    np.testing.assert_array_equal(X, before)
