"""The one counter hash (reference/counter_hash.py) and its Numba twin (kernels/_jit_hash.py).

The digests below were taken from both chains before the hash had one home (dropout's and
augmentation's own copies, commit c86bcca): the draws must never change, or every seeded
dropout mask and augmented batch would.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mnistbench.kernels import _jit_augment, _jit_hash
from mnistbench.kernels import dropout as kernel_dropout
from mnistbench.reference import augment as ref_augment
from mnistbench.reference import counter_hash
from mnistbench.reference import dropout as ref_dropout

U64_MAX = 2**64 - 1
ROWS = np.array([0, 1, 7, 40_999, 2**31, 2**63 - 1], np.int64)
# (seed, step, layer) -> digest of dropout_uniform(..., ROWS, 33) (float64 from 53 hashed bits).
DROPOUT_UNIFORM = {
    (0, 0, 0): "48895d4b1582b91d",
    (1, 2, 3): "a203e64866816ceb",
    (U64_MAX, U64_MAX, U64_MAX): "e0a68973d0d4c2d0",
    (12345, 678, 1): "7f080dea468df842",
}
# (seed, epoch, row) -> digest of image_key and 100 uniforms of each of the four streams.
AUGMENT_STREAMS = {
    (0, 0, 0): "91886242da12a5cf",
    (5, 7, 40_999): "c4f57b10b98ee676",
    (U64_MAX, U64_MAX, 2**63 - 1): "68bdc5ffbf278b2c",
}
SAMPLES = np.array([0, 1, 2, 2**32 - 1, 2**63, U64_MAX, 0x0123456789ABCDEF], np.uint64)


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("coordinates", DROPOUT_UNIFORM)
@pytest.mark.parametrize("engine", [ref_dropout, kernel_dropout], ids=["reference", "numba"])
def test_dropout_draws_are_those_before_the_hash_had_one_home(engine, coordinates):
    got = engine.dropout_uniform(*coordinates, ROWS, 33)
    assert digest(got) == DROPOUT_UNIFORM[coordinates]


@pytest.mark.parametrize("coordinates", AUGMENT_STREAMS)
def test_augmentation_draws_are_those_before_the_hash_had_one_home(coordinates):
    key = ref_augment.image_key(*coordinates)
    streams = [ref_augment.uniforms(key, stream, 100) for stream in range(4)]
    assert digest(key, *streams) == AUGMENT_STREAMS[coordinates]
    seed, epoch, row = coordinates
    assert _jit_augment.image_key(np.uint64(seed), np.uint64(epoch), row) == key[0]
    got = [_jit_augment.uniform(key[0], 3, k) for k in range(100)]
    np.testing.assert_array_equal(got, streams[3])


def test_numba_hash_matches_numpy_bit_for_bit():
    for z in SAMPLES:
        assert _jit_hash.mix64(z) == counter_hash.mix64(z)
        assert _jit_hash.splitmix_step(z) == counter_hash.splitmix_step(z)
        assert _jit_hash.unit_float(z) == counter_hash.unit_float(z)
        for x in SAMPLES:
            assert _jit_hash.absorb(z, x) == counter_hash.absorb(z, x)


def test_the_two_chains_share_one_mixer():
    """Augmentation's splitmix step is dropout's absorb of 0; absorb(0, x) is splitmix64."""
    np.testing.assert_array_equal(
        counter_hash.splitmix_step(SAMPLES), counter_hash.absorb(SAMPLES, np.uint64(0))
    )
    # Vigna's splitmix64 seeded with 0: its first two outputs (state 0, then GOLDEN).
    assert int(counter_hash.splitmix_step(0)) == 0xE220A8397B1DCDAF
    assert int(counter_hash.splitmix_step(counter_hash.GOLDEN)) == 0x6E789E6AA1B965F4
    u = counter_hash.unit_float(SAMPLES)
    assert u.min() >= 0 and u.max() < 1 and u[SAMPLES == U64_MAX] == 1 - 2.0**-53


@pytest.mark.parametrize(
    "draw",
    [
        lambda row: ref_dropout.dropout_uniform(0, 0, 0, np.array([row], np.uint64), 2),
        lambda row: kernel_dropout.dropout_uniform(0, 0, 0, np.array([row], np.uint64), 2),
        lambda row: ref_augment.image_key(0, 0, row),
    ],
    ids=["reference-dropout", "numba-dropout", "reference-augment"],
)
def test_every_path_takes_rows_up_to_2_63_minus_1_and_no_further(draw):
    draw(2**63 - 1)
    with pytest.raises(ValueError, match=r"0\.\.2\*\*63-1"):
        draw(2**63)


def test_counters_take_any_uint64_and_name_the_bad_value():
    assert counter_hash.check_counter(U64_MAX, "seed") == U64_MAX
    with pytest.raises(ValueError, match=f"epoch must be in 0..2\\*\\*64-1, got {2**64}"):
        ref_augment.image_key(0, 2**64, 0)
    with pytest.raises(TypeError, match="seed must be an integer, got 1.5"):
        ref_augment.image_key(1.5, 0, 0)
    with pytest.raises(ValueError, match="-1"):
        counter_hash.check_row(-1)
