"""The trajectory comparison itself: it lets a lone ill-conditioned float32 coordinate through,
within its stated bound, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TRAJECTORY_TOL, assert_trajectory_close

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def _weights(n=29_008, seed=0):
    return np.random.default_rng(seed).normal(0, 0.05, n).astype(np.float32)


def test_one_coordinate_a_whole_update_away_passes_in_float32_only():
    expected = _weights()
    actual = expected.copy()
    actual[123] += 6e-4  # the Intel Xeon case: one weight 0.92% off after an Adam epoch
    assert_trajectory_close(actual, expected, F32, step_bound=0.63)
    with pytest.raises(AssertionError, match="outlier moved"):
        assert_trajectory_close(actual, expected, F32, step_bound=1e-4)
    with pytest.raises(AssertionError):
        assert_trajectory_close(actual.astype(np.float64), expected.astype(np.float64), F64)


def test_systematic_or_widespread_errors_fail():
    expected = _weights(seed=1)
    _, rtol = TRAJECTORY_TOL[F32]
    with pytest.raises(AssertionError, match="norm-wise"):
        assert_trajectory_close(expected * (1 + 10 * rtol), expected, F32)
    scattered = expected.copy()
    scattered[::500] += 0.002  # 59 elements: more than 0.1% of them, small in norm
    with pytest.raises(AssertionError, match="elements beyond"):
        assert_trajectory_close(scattered, expected, F32)
    assert_trajectory_close(expected * (1 + rtol / 10), expected, F32)
