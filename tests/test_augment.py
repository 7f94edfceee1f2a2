"""On-the-fly augmentation: Numba kernels against the scipy.ndimage oracle on real digits.

Tolerances: the kernels and the oracle do the same float64 arithmetic in a different order
(coordinates, Gaussian taps, libm vs NumPy transcendentals), measured max difference ~1e-14, so
float64 output is held to atol 1e-12; float32 output only adds its rounding (<= 2**-25 on [0, 1]),
held to atol 1e-6. Random streams are compared bit for bit.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest
from scipy import ndimage

from mnistbench.kernels import _jit_augment
from mnistbench.kernels.augment import AugmentConfig, augment_batch
from mnistbench.reference import augment as ref
from mnistbench.reference.data import load_embedded
from mnistbench.reference.tolerances import AUGMENT_ATOL

ATOL = AUGMENT_ATOL
ROWS = np.arange(7, 5000, 77)[:64]  # 64 real digits spread over all classes
SEED, EPOCH = 20240917, 3
CONFIGS = {
    "affine": AugmentConfig(rotate=15, scale=0.1, shift=2.5),
    "rotate": AugmentConfig(rotate=180),
    "elastic": AugmentConfig(elastic_alpha=34, elastic_sigma=4),
    "noise": AugmentConfig(noise=0.1),
    "all": AugmentConfig(
        rotate=10, scale=0.15, shift=2, elastic_alpha=20, elastic_sigma=3, noise=0.05
    ),
}
# Input pixels x output dtype; each pair is one compiled specialisation (~1 s cold each).
CASES = [
    ("uint8", np.float32),
    ("uint8", np.float64),
    ("float32", np.float32),
    ("float64", np.float32),
]


@pytest.fixture(scope="module")
def pixels():
    X = load_embedded().X  # read-only uint8 (5000, 784)
    return {"uint8": X, "float32": (X / 255).astype(np.float32), "float64": X / 255.0}


@pytest.fixture(scope="module")
def oracle(pixels):
    cache = {}

    def get(name, kind):
        if (name, kind) not in cache:
            X = pixels[kind]
            cache[name, kind] = ref.augment_batch(X, ROWS, CONFIGS[name], seed=SEED, epoch=EPOCH)
        return cache[name, kind]

    return get


@pytest.mark.parametrize(
    ("kind", "out_dtype"), CASES, ids=[f"{k}-{np.dtype(d).name}" for k, d in CASES]
)
@pytest.mark.parametrize("name", list(CONFIGS))
def test_kernel_matches_scipy_oracle(pixels, oracle, name, kind, out_dtype):
    out = augment_batch(
        pixels[kind], ROWS, seed=SEED, epoch=EPOCH, config=CONFIGS[name], dtype=out_dtype
    )
    assert out.dtype == out_dtype and out.shape == (len(ROWS), 784)
    expected = oracle(name, kind)
    np.testing.assert_allclose(out, expected, atol=ATOL[np.dtype(out_dtype)], rtol=0)
    assert out.min() >= 0 and out.max() <= 1
    assert np.abs(expected - pixels[kind][ROWS] / (255 if kind == "uint8" else 1)).mean() > 0.01


def _sparse_images():
    """(4, 784) uint8: one ink pixel in a corner, one in the middle, a 2x3 block on the right
    edge, and a blank image: the ink box decides which pixels the affine kernel interpolates."""
    X = np.zeros((4, 28, 28), np.uint8)
    X[0, 0, 0], X[1, 13, 14], X[2, 5:7, 25:28] = 255, 200, 90
    return X.reshape(4, 784)


@pytest.mark.parametrize(
    "settings",
    [
        {"rotate": 45, "scale": 0.9},
        {"rotate": 90},
        {"rotate": 180, "scale": 0.5, "shift": 14},
        {"shift": 28},
        {"rotate": 0.001, "shift": 0.5},
    ],
)
def test_affine_edges_and_sparse_ink_match_scipy_oracle(pixels, settings):
    """Large and near-zero angles, big zooms and shifts, ink at the borders: the kernel skips
    pixels far from the ink's bounding box and must still agree with scipy everywhere."""
    config = AugmentConfig(**settings)
    for X, rows in ((pixels["uint8"], ROWS), (_sparse_images(), np.arange(4))):
        for epoch in range(3):
            got = augment_batch(X, rows, seed=SEED, epoch=epoch, config=config, dtype=np.float64)
            want = ref.augment_batch(X, rows, config, seed=SEED, epoch=epoch)
            np.testing.assert_allclose(got, want, atol=ATOL[np.dtype(np.float64)], rtol=0)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 4.0, 9.0, 28.0])  # radius 2 .. 112 (> 27: all taps)
def test_kernel_smoothing_matches_gaussian_filter(sigma):
    key = ref.image_key(1, 2, 3)
    d = ref.draw(AugmentConfig(), 1, 2, 3)
    expected = ref.displacement_field(d.noise_x, d.noise_y, 7.5, sigma)
    direct = ndimage.gaussian_filter(d.noise_x, sigma, mode="constant", truncate=4.0) * 7.5
    np.testing.assert_allclose(expected[0], direct, atol=0, rtol=0)
    side, pad = _jit_augment.SIDE, _jit_augment.PAD
    buffers = [np.zeros((side + 2 * pad, 2 * side)) for _ in range(2)]
    fx, fy, acc = np.empty((side, side)), np.empty((side, side)), np.empty(2 * side * side)
    weights = ref.gaussian_weights(sigma)
    _jit_augment._displacement(key[0], weights, 7.5, *buffers, acc, fx, fy)
    np.testing.assert_allclose(fx, expected[0], atol=1e-13, rtol=0)
    np.testing.assert_allclose(fy, expected[1], atol=1e-13, rtol=0)


def test_random_streams_are_bit_identical():
    for seed, epoch, row in [(0, 0, 0), (2**64 - 1, 7, 4999), (123, 2**40, 17)]:
        key = ref.image_key(seed, epoch, row)
        assert _jit_augment.image_key(np.uint64(seed), np.uint64(epoch), row) == key[0]
        for stream in range(4):
            expected = ref.uniforms(key, stream, 50)
            got = [_jit_augment.uniform(key[0], stream, k) for k in range(50)]
            np.testing.assert_array_equal(got, expected)
    u = ref.uniforms(ref.image_key(5, 0, 0), 0, 100_000)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    z = np.concatenate([ref.normals(ref.image_key(5, 0, r), 3, 784) for r in range(200)])
    assert (
        abs(z.mean()) < 0.01
        and abs(z.std() - 1) < 0.01
        and abs((abs(z) > 2).mean() - 0.0455) < 3e-3
    )


def test_reference_transform_directions():
    image = np.zeros((28, 28))
    image[5, 13:15] = 1.0  # above the centre (13.5, 13.5)
    rotated = ref.affine(image, 90.0, 1.0, (0.0, 0.0))  # counter-clockwise as displayed
    np.testing.assert_array_equal(np.argwhere(rotated > 0.5), [[13, 5], [14, 5]])
    moved = ref.affine(image, 0.0, 1.0, (3.0, 2.0))  # 3 right, 2 down
    np.testing.assert_array_equal(np.argwhere(moved > 0.5), [[7, 16], [7, 17]])
    rng = np.random.default_rng(0)
    x = rng.random((28, 28))
    np.testing.assert_allclose(  # the one-resampling path agrees with affine_transform
        ref.warp(x, 17.0, 1.1, (1.3, -2.2)), ref.affine(x, 17.0, 1.1, (1.3, -2.2)), atol=1e-13
    )
    dx, dy = rng.normal(size=(2, 28, 28))
    expected = ndimage.map_coordinates(x, np.mgrid[0:28, 0:28] + np.stack([dy, dx]), order=1)
    np.testing.assert_allclose(ref.elastic(x, dx, dy), expected, atol=1e-15)


def test_same_seed_and_epoch_give_identical_batches_whatever_order_or_threads(pixels):
    X, config = pixels["uint8"], CONFIGS["all"]
    first = augment_batch(X, ROWS, seed=SEED, epoch=EPOCH, config=config)
    np.testing.assert_array_equal(
        augment_batch(X, ROWS, seed=SEED, epoch=EPOCH, config=config), first
    )
    order = np.random.default_rng(0).permutation(len(ROWS))
    shuffled = augment_batch(X, ROWS[order], seed=SEED, epoch=EPOCH, config=config)
    np.testing.assert_array_equal(shuffled, first[order])
    halves = [
        augment_batch(X, ROWS[:17], seed=SEED, epoch=EPOCH, config=config),
        augment_batch(X, ROWS[17:], seed=SEED, epoch=EPOCH, config=config),
    ]
    np.testing.assert_array_equal(np.concatenate(halves), first)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = augment_batch(X, ROWS, seed=SEED, epoch=EPOCH, config=config)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(serial, first)
    for other in ({"seed": SEED, "epoch": EPOCH + 1}, {"seed": SEED + 1, "epoch": EPOCH}):
        different = augment_batch(X, ROWS, config=config, **other)
        assert np.abs(different - first).mean() > 0.02, other


def test_identity_returns_pixels_scaled(pixels):
    X = pixels["uint8"]
    for dtype in (np.float32, np.float64):
        out = augment_batch(X, ROWS, seed=0, epoch=0, dtype=dtype)
        np.testing.assert_array_equal(out, (X[ROWS] / 255.0).astype(dtype))
    floats = pixels["float32"]
    np.testing.assert_array_equal(augment_batch(floats, ROWS, seed=0, epoch=0), floats[ROWS])
    assert augment_batch(X, [], seed=0, epoch=0).shape == (0, 784)


def test_any_layout_or_byte_order_gives_the_same_batch(pixels):
    config = CONFIGS["all"]
    expected = augment_batch(pixels["float64"], ROWS, seed=SEED, epoch=EPOCH, config=config)
    for X in (
        np.asfortranarray(pixels["float64"]),
        pixels["float64"].astype(">f8"),
        np.repeat(pixels["float64"], 2, axis=0)[::2],
    ):
        got = augment_batch(X, ROWS, seed=SEED, epoch=EPOCH, config=config)
        np.testing.assert_array_equal(got, expected)


def test_out_is_filled_in_place_and_noise_stays_in_range(pixels):
    out = np.full((len(ROWS), 784), -1.0, np.float32)
    result = augment_batch(pixels["uint8"], ROWS, seed=1, epoch=0, noise=1.0, out=out)
    assert result is out
    assert out.min() == 0 and out.max() == 1 and 0.3 < (out == 0).mean() < 0.7


def test_augment_config_validates_and_reports_enabled():
    assert not AugmentConfig().enabled
    assert not AugmentConfig(elastic_sigma=4).enabled  # no alpha: no elastic field
    config = AugmentConfig(rotate=10, shift=np.int64(2))
    assert config.enabled and config.geometric and isinstance(config.shift, float)
    assert AugmentConfig(noise=0.1).enabled and not AugmentConfig(noise=0.1).geometric
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.rotate = 5.0


@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"rotate": -1}, ValueError, "rotate must be in"),
        ({"rotate": float("nan")}, ValueError, "rotate must be finite"),
        ({"rotate": 181}, ValueError, "rotate"),
        ({"scale": 1.0}, ValueError, r"scale must be in \[0, 1\)"),
        ({"scale": -0.1}, ValueError, "scale"),
        ({"shift": 29}, ValueError, "shift"),
        ({"shift": float("inf")}, ValueError, "shift must be finite"),
        ({"noise": 1.5}, ValueError, "noise"),
        ({"elastic_alpha": 34}, ValueError, "elastic_sigma must be > 0"),
        ({"elastic_alpha": 1e4, "elastic_sigma": 4}, ValueError, "elastic_alpha"),
        ({"elastic_alpha": 34, "elastic_sigma": float("nan")}, ValueError, "elastic_sigma"),
        ({"rotate": "5"}, TypeError, "rotate must be a real number"),
        ({"noise": True}, TypeError, "noise must be a real number"),
    ],
)
def test_bad_settings_are_refused(pixels, settings, error, match):
    with pytest.raises(error, match=match):
        AugmentConfig(**settings)
    with pytest.raises(error, match=match):
        augment_batch(pixels["uint8"], ROWS, seed=0, epoch=0, **settings)


def _with_nan():
    X = np.zeros((10, 784))
    X[3, 100] = np.nan
    return X


@pytest.mark.parametrize(
    ("X", "rows", "kwargs", "error", "match"),
    [
        (np.zeros((10, 783), np.uint8), [0], {}, ValueError, r"shape \(m, 784\)"),
        (np.zeros(784, np.uint8), [0], {}, ValueError, "shape"),
        (np.zeros((0, 784), np.uint8), [], {}, ValueError, "empty"),
        ([[0] * 784], [0], {}, TypeError, "numpy array"),
        (np.zeros((10, 784), bool), [0], {}, TypeError, "bool"),
        (np.zeros((10, 784), np.float16), [0], {}, TypeError, "float16"),
        (_with_nan(), [2, 3], {}, ValueError, r"X\[3, 100\] is nan"),
        (np.full((10, 784), 255.0), [0], {}, ValueError, r"float X must be in \[0, 1\]"),
        (np.full((10, 784), 300), [0], {}, ValueError, "0..255"),
        (np.zeros((10, 784), np.uint8), [10], {}, ValueError, r"rows must be in 0..9"),
        (np.zeros((10, 784), np.uint8), [-1], {}, ValueError, "out of range"),
        (np.zeros((10, 784), np.uint8), [0.0], {}, TypeError, "integer row indices"),
        (np.zeros((10, 784), np.uint8), [[0]], {}, ValueError, "1-D"),
        (np.zeros((10, 784), np.uint8), [0], {"seed": -1}, ValueError, "seed must be in"),
        (np.zeros((10, 784), np.uint8), [0], {"seed": 2**64}, ValueError, "seed"),
        (np.zeros((10, 784), np.uint8), [0], {"seed": 1.5}, TypeError, "seed must be an integer"),
        (np.zeros((10, 784), np.uint8), [0], {"epoch": None}, TypeError, "epoch"),
        (np.zeros((10, 784), np.uint8), [0], {"dtype": np.int32}, TypeError, "dtype"),
        (np.zeros((10, 784), np.uint8), [0], {"out": np.empty((2, 784))}, ValueError, "out must"),
        (
            np.zeros((10, 784), np.uint8),
            [0],
            {"out": np.empty((1, 784), np.int64)},
            TypeError,
            "out must be float32",
        ),
        (
            np.zeros((10, 784), np.uint8),
            [0, 1],
            {"out": np.empty((784, 2)).T},
            ValueError,
            "C-contiguous",
        ),
        (np.zeros((10, 784), np.uint8), [0], {"config": {"rotate": 5}}, TypeError, "AugmentConfig"),
        (
            np.zeros((10, 784), np.uint8),
            [0],
            {"config": AugmentConfig(), "rotate": 5},
            TypeError,
            "either config",
        ),
    ],
)
def test_bad_inputs_are_refused_before_any_kernel(X, rows, kwargs, error, match):
    kwargs = {"seed": 0, "epoch": 0, **kwargs}
    with pytest.raises(error, match=match):
        augment_batch(X, rows, **kwargs)


def test_only_the_batch_rows_are_checked_and_out_may_not_alias_X():
    X = _with_nan()
    np.testing.assert_array_equal(augment_batch(X, [0, 1], seed=0, epoch=0), 0.0)
    floats = np.zeros((10, 784), np.float32)
    with pytest.raises(ValueError, match="share memory"):
        augment_batch(floats, np.arange(10), seed=0, epoch=0, out=floats)
    frozen = np.empty((1, 784), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        augment_batch(floats, [0], seed=0, epoch=0, out=frozen)
