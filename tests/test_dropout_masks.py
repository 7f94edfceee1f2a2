"""Counter-based dropout masks: the NumPy hash (reference/dropout.py) and the Numba one
(kernels/_jit_dropout.py) agree bit for bit; the draws are uniform, independent across units,
rows, steps, layers and seeds; each entry depends only on its own coordinates."""

from __future__ import annotations

import re

import numpy as np
import pytest
from numba import prange

from mnistbench.kernels import _jit_dropout
from mnistbench.kernels import dropout as kernel_dropout
from mnistbench.kernels._numba import njit
from mnistbench.reference import dropout as ref_dropout

ENGINES = {"numpy": ref_dropout, "numba": kernel_dropout}
# splitmix64 seeded with 0: its first three outputs (Vigna's reference implementation).
SPLITMIX64_FROM_0 = (0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F)


def test_absorb_from_zero_is_the_splitmix64_sequence():
    for x, want in enumerate(SPLITMIX64_FROM_0):
        assert int(ref_dropout.absorb(0, x)) == want
        assert int(_jit_dropout.absorb(np.uint64(0), np.uint64(x))) == want
    assert int(ref_dropout.mix64(0)) == 0  # why absorb starts at x + 1


def test_stream_keys_agree_including_the_uint64_extremes():
    cases = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (2**64 - 1, 2**63, 7), (123, 10**12, 3)]
    keys = set()
    for seed, step, layer in cases:
        want = ref_dropout.stream_key(seed, step, layer)
        got = _jit_dropout.stream_key(np.uint64(seed), np.uint64(step), np.uint64(layer))
        assert int(got) == int(want)
        keys.add(int(want))
    assert len(keys) == len(cases)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_numpy_and_numba_masks_are_bit_identical(rate, dtype):
    """40 random (seed, step, layer) with 37 random data-set rows x 53 units each."""
    rng = np.random.default_rng(int(rate * 10))
    for _ in range(40):
        seed = int(rng.integers(0, 2**63)) * int(rng.integers(1, 3))
        step, layer = int(rng.integers(0, 10**9)), int(rng.integers(0, 8))
        rows = rng.integers(0, 10**7, 37)
        want = ref_dropout.dropout_mask(rate, seed, step, layer, rows, 53, dtype)
        got = kernel_dropout.dropout_mask(rate, seed, step, layer, rows, 53, dtype)
        assert want.dtype == got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)
        u_ref = ref_dropout.dropout_uniform(seed, step, layer, rows, 53)
        np.testing.assert_array_equal(
            kernel_dropout.dropout_uniform(seed, step, layer, rows, 53), u_ref
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_mask_values_are_zero_or_the_inverted_scale(engine):
    rows = np.arange(100)
    mask = ENGINES[engine].dropout_mask(0.3, 1, 2, 0, rows, 40, np.float32)
    assert set(np.unique(mask).tolist()) == {0.0, float(np.float32(1 / 0.7))}
    ones = ENGINES[engine].dropout_mask(0.0, 1, 2, 0, rows, 40)
    np.testing.assert_array_equal(ones, 1.0)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_keep_rate_and_mean_scale(rate):
    """256 x 400 = 102,400 entries: keep fraction within 5 sigma of 1 - rate (sigma <= 0.0016);
    the mean of the mask (expectation 1, inverted dropout) within 5 sigma too."""
    mask = ref_dropout.dropout_mask(rate, 11, 5, 1, np.arange(1000, 1256), 400)
    n = mask.size
    sigma = np.sqrt(rate * (1 - rate) / n)
    assert abs(np.mean(mask > 0) - (1 - rate)) < 5 * sigma
    assert abs(mask.mean() - 1.0) < 5 * sigma / (1 - rate)


def test_uniforms_are_uniform_and_uncorrelated_across_coordinates():
    """200 x 500 draws: 20-bin chi-square < 50 (19 dof, p ~ 1e-4); mean 0.5 and variance 1/12
    within 5 sigma; |correlation| < 0.02 (sigma 0.0032) between neighbouring units, rows, steps,
    layers and seeds."""
    u = ref_dropout.dropout_uniform(0, 0, 0, np.arange(200), 500)
    assert u.min() >= 0 and u.max() < 1
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    expected = u.size / 20
    assert np.sum((counts - expected) ** 2 / expected) < 50
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / u.size)
    neighbours = {
        "unit": (u[:, :-1], u[:, 1:]),
        "row": (u[:-1], u[1:]),
        "step": (u, ref_dropout.dropout_uniform(0, 1, 0, np.arange(200), 500)),
        "layer": (u, ref_dropout.dropout_uniform(0, 0, 1, np.arange(200), 500)),
        "seed": (u, ref_dropout.dropout_uniform(1, 0, 0, np.arange(200), 500)),
    }
    for name, (a, b) in neighbours.items():
        corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(corr) < 0.02, (name, corr)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_row_mask_depends_only_on_its_row(engine):
    """The mask of a batch is the masks of its rows stacked, whatever the order or batch."""
    dropout_mask = ENGINES[engine].dropout_mask
    rows = np.random.default_rng(3).permutation(500)[:64]
    batch = dropout_mask(0.4, 9, 17, 2, rows, 30)
    alone = np.vstack([dropout_mask(0.4, 9, 17, 2, [r], 30) for r in rows[:8]])
    np.testing.assert_array_equal(batch[:8], alone)
    perm = np.random.default_rng(4).permutation(64)
    np.testing.assert_array_equal(dropout_mask(0.4, 9, 17, 2, rows[perm], 30), batch[perm])
    # A wider layer extends the same row stream: its first 30 units are these.
    np.testing.assert_array_equal(dropout_mask(0.4, 9, 17, 2, rows, 45)[:, :30], batch)


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_arguments_are_rejected_naming_the_value(engine):
    dropout_mask = ENGINES[engine].dropout_mask
    rows = np.arange(4)
    for rate in (-0.1, 1.0, 1.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=re.escape(repr(rate))):
            dropout_mask(rate, 0, 0, 0, rows, 3)
    for rate in (True, "0.5", None):
        with pytest.raises(TypeError, match=re.escape(repr(rate))):
            dropout_mask(rate, 0, 0, 0, rows, 3)
    with pytest.raises(ValueError, match="-1"):
        dropout_mask(0.5, -1, 0, 0, rows, 3)
    with pytest.raises(ValueError, match=re.escape(repr(2**64))):
        dropout_mask(0.5, 0, 2**64, 0, rows, 3)
    with pytest.raises(TypeError, match="1.5"):
        dropout_mask(0.5, 0, 0, 1.5, rows, 3)
    with pytest.raises(ValueError, match="-2"):
        dropout_mask(0.5, 0, 0, 0, np.array([0, -2]), 3)
    with pytest.raises(ValueError, match="float64"):
        dropout_mask(0.5, 0, 0, 0, np.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="float16"):
        dropout_mask(0.5, 0, 0, 0, rows, 3, np.float16)


@njit(parallel=True)
def _masked_relu_in_a_kernel(Z, rows, seed, step, layer, rate, scale, out):
    """How a layer kernel uses the hash: one key per layer and step, one row key per row."""
    key = _jit_dropout.stream_key(seed, step, layer)
    for i in prange(Z.shape[0]):
        row_key = _jit_dropout.absorb(key, np.uint64(rows[i]))
        for j in range(Z.shape[1]):
            keep = _jit_dropout.unit_uniform(row_key, j) >= rate
            out[i, j] = max(Z[i, j], 0.0) * scale if keep else 0.0


def test_the_hash_inlines_into_a_parallel_kernel():
    rng = np.random.default_rng(8)
    Z, rows = rng.normal(size=(97, 33)), rng.permutation(1000)[:97]
    out = np.empty_like(Z)
    seed, step, layer = np.uint64(5), np.uint64(123), np.uint64(1)
    _masked_relu_in_a_kernel(Z, rows, seed, step, layer, 0.35, 1 / 0.65, out)
    want = np.maximum(Z, 0.0) * ref_dropout.dropout_mask(0.35, 5, 123, 1, rows, 33)
    np.testing.assert_array_equal(out, want)
