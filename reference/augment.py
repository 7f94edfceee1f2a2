"""Data augmentation oracle: per-image transforms with scipy.ndimage and a counter-based stream.

Conventions (the Numba kernels in :mod:`mnistbench.kernels.augment` follow them exactly):

* an image is a ``(28, 28)`` float64 array in [0, 1]; raw ``uint8`` pixels are divided by 255;
* coordinates are (row, col) with the centre at ``(13.5, 13.5)``; the forward transform rotates by
  ``angle_deg`` counter-clockwise as displayed (rows grow downwards), scales by ``scale`` about the
  centre, then shifts by ``shift_xy = (x, y)`` pixels (x: right, y: down);
* every resampling is bilinear (``order=1``) with ``mode="constant", cval=0``: a sample whose row
  or column coordinate falls outside ``[0, 27]`` is 0, as scipy does;
* the elastic field of Simard et al. (2003) is ``alpha * gaussian_filter(U(-1, 1) noise, sigma)``
  (``mode="constant"``, ``truncate=4.0``); with an affine transform too, the output pixel ``o``
  reads the input at ``affine⁻¹(o + d(o))``: one resampling, never two;
* pixel noise adds ``std * N(0, 1)`` per pixel and clips to [0, 1].

Random draws come from the counter-based hash of :mod:`.counter_hash` (splitmix64 steps) of
(seed, epoch, row, stream, k), so any image's transform is a pure function of those numbers,
whatever the batch or thread: ``key = step(step(step(seed) ^ epoch) ^ row)``, draw ``k`` of
``stream`` is ``unit_float(step(key ^ (stream << 32 | k)))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from .counter_hash import check_counter, check_row, splitmix_step, unit_float
from .model import N_PIXELS, SIDE

CENTRE = (SIDE - 1) / 2
TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default
MAX_ROTATE = 180.0
MAX_ALPHA = 1000.0
# Streams of draws per image: the affine parameters (k = 0..3: angle, scale, shift x, shift y),
# the elastic noise fields (k = pixel index), and the pixel noise (Box-Muller pairs).
STREAM_AFFINE, STREAM_ELASTIC_X, STREAM_ELASTIC_Y, STREAM_NOISE = 0, 1, 2, 3


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _in_range(value: Any, name: str, high: float, *, closed: bool = True) -> float:
    value = _real(value, name)
    if value < 0 or value > high or (not closed and value == high):
        bracket = "]" if closed else ")"
        raise ValueError(f"{name} must be in [0, {high:g}{bracket}, got {value!r}")
    return value


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings; all 0 means off. Validated on construction.

    rotate: max |angle| in degrees (0..180); scale: max relative zoom (factor in
    [1 - scale, 1 + scale], so 0 <= scale < 1); shift: max |shift| in pixels per axis (0..28);
    elastic_alpha (0..1000) and elastic_sigma (0..28, > 0 when alpha > 0): Simard's elastic field;
    noise: std of the Gaussian pixel noise on the [0, 1] scale (0..1).
    """

    rotate: float = 0.0
    scale: float = 0.0
    shift: float = 0.0
    elastic_alpha: float = 0.0
    elastic_sigma: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        limits = {
            "rotate": (MAX_ROTATE, True),
            "scale": (1.0, False),
            "shift": (float(SIDE), True),
            "elastic_alpha": (MAX_ALPHA, True),
            "elastic_sigma": (float(SIDE), True),
            "noise": (1.0, True),
        }
        for name, (high, closed) in limits.items():
            object.__setattr__(
                self, name, _in_range(getattr(self, name), name, high, closed=closed)
            )
        if self.elastic_alpha > 0 and self.elastic_sigma == 0:
            raise ValueError(
                f"elastic_sigma must be > 0 when elastic_alpha > 0 (got alpha "
                f"{self.elastic_alpha!r}, sigma 0): an unsmoothed field is pure noise"
            )

    @property
    def elastic(self) -> bool:
        """True when the elastic family is on (``elastic_alpha > 0``)."""
        return self.elastic_alpha > 0

    @property
    def geometric(self) -> bool:
        """True when pixels move (any of rotate, scale, shift, elastic)."""
        return self.rotate > 0 or self.scale > 0 or self.shift > 0 or self.elastic

    @property
    def enabled(self) -> bool:
        """True when any family changes the pixels."""
        return self.geometric or self.noise > 0


def image_key(seed: int, epoch: int, row: int) -> np.ndarray:
    """(1,) uint64: the hash every draw for image ``row`` of ``epoch`` starts from."""
    seed, epoch = check_counter(seed, "seed"), check_counter(epoch, "epoch")
    z = splitmix_step(np.array([seed], np.uint64))
    z = splitmix_step(z ^ np.uint64(epoch))
    return splitmix_step(z ^ np.uint64(check_row(row)))


def uniforms(key: np.ndarray, stream: int, count: int) -> np.ndarray:
    """(count,) float64 in [0, 1): draws k = 0..count-1 of ``stream``, 53 random bits each."""
    counters = (np.uint64(stream) << np.uint64(32)) | np.arange(count, dtype=np.uint64)
    return unit_float(splitmix_step(key ^ counters))


def normals(key: np.ndarray, stream: int, count: int) -> np.ndarray:
    """(count,) float64 N(0, 1) by Box-Muller: draws 2p, 2p+1 give normals 2p and 2p+1.

    Radius ``sqrt(-2 log(1 - u[2p]))``; the angle ``2 pi u[2p+1]`` is taken as quadrant
    ``q = floor(4 u)`` plus ``theta`` in [-pi/4, pi/4), so sine and cosine only ever see small
    arguments (libm's fast path, same on both sides): normals = radius * rot(q) (cos, sin)(theta).
    """
    pairs = (count + 1) // 2
    u = uniforms(key, stream, 2 * pairs)
    radius = np.sqrt(-2.0 * np.log(1.0 - u[0::2]))
    turn = 4.0 * u[1::2]
    quadrant = turn.astype(np.int64)
    theta = (turn - quadrant - 0.5) * (0.5 * np.pi)
    cos, sin = radius * np.cos(theta), radius * np.sin(theta)
    first = np.choose(quadrant, [cos, -sin, -cos, sin])
    second = np.choose(quadrant, [sin, cos, -sin, -cos])
    return np.stack([first, second], axis=1).ravel()[:count]


def affine_matrix(angle_deg: float, scale: float, shift_xy) -> tuple[np.ndarray, np.ndarray]:
    """(matrix (2, 2), offset (2,)) with input coord = matrix @ output coord + offset (scipy's)."""
    theta = math.radians(angle_deg)
    cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
    matrix = np.array([[cos, sin], [-sin, cos]])
    moved = np.array([CENTRE + shift_xy[1], CENTRE + shift_xy[0]])
    offset = np.array([CENTRE, CENTRE]) - (matrix[:, 0] * moved[0] + matrix[:, 1] * moved[1])
    return matrix, offset


def affine(image: np.ndarray, angle_deg: float, scale: float, shift_xy) -> np.ndarray:
    """(28, 28) float64: one bilinear resampling by ``scipy.ndimage.affine_transform``."""
    matrix, offset = affine_matrix(angle_deg, scale, shift_xy)
    image = np.asarray(image, np.float64)
    return ndimage.affine_transform(image, matrix, offset, order=1, mode="constant", cval=0.0)


def elastic(image: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """(28, 28) float64: output[r, c] = image at (r + dy[r, c], c + dx[r, c]), bilinear."""
    return warp(image, 0.0, 1.0, (0.0, 0.0), dx, dy)


def warp(image, angle_deg: float, scale: float, shift_xy, dx=None, dy=None) -> np.ndarray:
    """(28, 28) float64: elastic field then affine, composed into one ``map_coordinates`` call."""
    rows, cols = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    if dx is not None:
        rows, cols = rows + dy, cols + dx
    matrix, offset = affine_matrix(angle_deg, scale, shift_xy)
    coords = np.stack(
        [
            matrix[0, 0] * rows + matrix[0, 1] * cols + offset[0],
            matrix[1, 0] * rows + matrix[1, 1] * cols + offset[1],
        ]
    )
    image = np.asarray(image, np.float64)
    return ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0)


def gaussian_weights(sigma: float, truncate: float = TRUNCATE) -> np.ndarray:
    """(2r+1,) float64 normalised Gaussian taps, r = int(truncate * sigma + 0.5), as scipy."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    return phi / phi.sum()


def displacement_field(noise_x, noise_y, alpha: float, sigma: float):
    """(dx, dy), each (28, 28) float64: ``alpha * gaussian_filter(noise, sigma)``, zero-padded."""
    smooth = [
        ndimage.gaussian_filter(np.asarray(n, np.float64), sigma, mode="constant")
        for n in (noise_x, noise_y)
    ]
    return smooth[0] * alpha, smooth[1] * alpha


def add_noise(image: np.ndarray, noise: np.ndarray, std: float) -> np.ndarray:
    """Image (float, [0, 1] scale) + std * noise, clipped to [0, 1]."""
    return np.clip(np.asarray(image, np.float64) + std * noise, 0.0, 1.0)


@dataclass(frozen=True)
class Draw:
    """One image's random transform: affine parameters, elastic noise (28, 28), pixel noise."""

    angle_deg: float
    scale: float
    shift_xy: tuple[float, float]
    noise_x: np.ndarray
    noise_y: np.ndarray
    pixel_noise: np.ndarray


def draw(config: AugmentConfig, seed: int, epoch: int, row: int) -> Draw:
    """The transform for image ``row`` in ``epoch``; each setting reads its own draws only."""
    key = image_key(seed, epoch, row)
    u = uniforms(key, STREAM_AFFINE, 4)
    elastic_x = 2.0 * uniforms(key, STREAM_ELASTIC_X, N_PIXELS) - 1.0
    elastic_y = 2.0 * uniforms(key, STREAM_ELASTIC_Y, N_PIXELS) - 1.0
    return Draw(
        angle_deg=config.rotate * (2.0 * u[0] - 1.0),
        scale=1.0 + config.scale * (2.0 * u[1] - 1.0),
        shift_xy=(config.shift * (2.0 * u[2] - 1.0), config.shift * (2.0 * u[3] - 1.0)),
        noise_x=elastic_x.reshape(SIDE, SIDE),
        noise_y=elastic_y.reshape(SIDE, SIDE),
        pixel_noise=normals(key, STREAM_NOISE, N_PIXELS).reshape(SIDE, SIDE),
    )


def as_unit_image(pixels: np.ndarray) -> np.ndarray:
    """(784,) or (28, 28) uint8 (divided by 255) or float in [0, 1] -> (28, 28) float64."""
    pixels = np.asarray(pixels)
    image = pixels / 255.0 if pixels.dtype == np.uint8 else pixels.astype(np.float64)
    return image.reshape(SIDE, SIDE)


def augment_image(pixels, config: AugmentConfig, seed: int, epoch: int, row: int) -> np.ndarray:
    """(28, 28) float64 in [0, 1]: image ``row`` augmented as in ``epoch``, with scipy.ndimage."""
    image = as_unit_image(pixels)
    d = draw(config, seed, epoch, row)
    if config.elastic:
        dx, dy = displacement_field(
            d.noise_x, d.noise_y, config.elastic_alpha, config.elastic_sigma
        )
        image = warp(image, d.angle_deg, d.scale, d.shift_xy, dx, dy)
    elif config.geometric:
        image = affine(image, d.angle_deg, d.scale, d.shift_xy)
    if config.noise > 0:
        image = add_noise(image, d.pixel_noise, config.noise)
    return image


def augment_batch(X, rows, config: AugmentConfig, *, seed: int, epoch: int) -> np.ndarray:
    """(len(rows), 784) float64: a Python loop of :func:`augment_image` over ``X[rows]``."""
    out = np.empty((len(rows), N_PIXELS))
    for i, row in enumerate(rows):
        out[i] = augment_image(X[row], config, seed, epoch, int(row)).ravel()
    return out
