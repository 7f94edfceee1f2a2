"""Private Numba kernels for on-the-fly augmentation. No validation here: see ``augment.py``.

They reproduce :mod:`mnistbench.reference.augment` (conventions, draw layout and the splitmix64
stream of :mod:`._jit_hash`) pixel for pixel; all arithmetic is float64, only the final store
uses ``out``'s dtype. Compiled without fast-math (``njit(exact=True)``, see :mod:`._numba`), so
every compiled copy rounds the same way.
"""

from __future__ import annotations

import math

import numpy as np

from mnistbench.reference.augment import (
    CENTRE,
    STREAM_AFFINE,
    STREAM_ELASTIC_X,
    STREAM_ELASTIC_Y,
    STREAM_NOISE,
)
from mnistbench.reference.model import N_PIXELS, SIDE

from ._jit_hash import splitmix_step, unit_float
from ._numba import njit

LAST = SIDE - 1
# Taps farther than LAST from the centre only ever read the zero padding: they add exact zeros.
PAD = LAST
# A bilinear sample reads pixels less than one away; the margin dwarfs coordinate rounding.
_REACH = 1.0 + 1e-6
_S32 = np.uint64(32)
_HALF_PI = 0.5 * np.pi
# Taylor coefficients, highest power first: sin to theta**17, cos to theta**18.
_SIN_TAYLOR = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(8, -1, -1))
_COS_TAYLOR = tuple((-1) ** k / math.factorial(2 * k) for k in range(9, -1, -1))


@njit(exact=True)
def image_key(seed, epoch, row):
    """uint64 hash of (seed, epoch, row): the start of every draw for one image."""
    return splitmix_step(splitmix_step(splitmix_step(seed) ^ epoch) ^ np.uint64(row))


@njit(exact=True)
def uniform(key, stream, k):
    """Draw k of ``stream``: float64 in [0, 1) from the top 53 bits of the hash."""
    counter = (np.uint64(stream) << _S32) | np.uint64(k)
    return unit_float(splitmix_step(key ^ counter))


@njit(exact=True)
def _elastic_noise(key, pad):
    """U(-1, 1) noise fields x | y side by side into the centre rows of the zero-padded ``pad``.

    pad: (SIDE + 2 PAD, 2 SIDE); pad[PAD + r, c] for x, pad[PAD + r, SIDE + c] for y.
    """
    for r in range(SIDE):
        for c in range(SIDE):
            pad[PAD + r, c] = 2.0 * uniform(key, STREAM_ELASTIC_X, r * SIDE + c) - 1.0
        for c in range(SIDE):
            pad[PAD + r, SIDE + c] = 2.0 * uniform(key, STREAM_ELASTIC_Y, r * SIDE + c) - 1.0


@njit(exact=True)
def _smooth_rows(pad, weights, acc, out_t):
    """Correlate both padded fields with ``weights`` along rows, store each transposed.

    pad: (SIDE + 2 PAD, 2 SIDE) as from :func:`_elastic_noise`; out_t gets the same layout with
    each field's rows and columns swapped, so two calls make the separable 2-D filter. Sums are
    ordered like scipy's symmetric ``correlate1d``: centre tap, then outermost pairs first. Each
    tap is one long loop over the flat centre block (acc: (SIDE * 2 SIDE,) scratch).
    """
    mid = (weights.shape[0] - 1) // 2
    radius = min(mid, PAD)
    width = 2 * SIDE
    size = SIDE * width
    flat = pad.ravel()
    first = PAD * width
    centre = weights[mid]
    for i in range(size):
        acc[i] = flat[first + i] * centre
    for j in range(radius, 0, -1):
        w = weights[mid - j]
        lo = flat[first - j * width : first - j * width + size]
        hi = flat[first + j * width : first + j * width + size]
        for i in range(size):
            acc[i] += (lo[i] + hi[i]) * w
    for r in range(SIDE):
        for c in range(SIDE):
            out_t[PAD + c, r] = acc[r * width + c]
            out_t[PAD + c, SIDE + r] = acc[r * width + SIDE + c]


@njit(exact=True)
def _displacement(key, weights, alpha, pad, tmp, acc, fx, fy):
    """fx, fy (SIDE, SIDE) = alpha * gaussian_filter(U(-1, 1) noise, sigma), mode constant."""
    _elastic_noise(key, pad)
    _smooth_rows(pad, weights, acc, tmp)
    _smooth_rows(tmp, weights, acc, pad)
    for r in range(SIDE):
        for c in range(SIDE):
            fx[r, c] = pad[PAD + r, c] * alpha
            fy[r, c] = pad[PAD + r, SIDE + c] * alpha


@njit(exact=True)
def _bilinear(src, row, col):
    """Bilinear value of src (SIDE, SIDE) at (row, col).

    0 outside [0, SIDE-1] on either axis (scipy "constant").
    """
    if not (row >= 0.0 and row <= LAST and col >= 0.0 and col <= LAST):
        return 0.0
    r0, c0 = int(row), int(col)
    tr, tc = row - r0, col - c0
    r1, c1 = min(r0 + 1, LAST), min(c0 + 1, LAST)
    top = (1.0 - tc) * src[r0, c0] + tc * src[r0, c1]
    bottom = (1.0 - tc) * src[r1, c0] + tc * src[r1, c1]
    return (1.0 - tr) * top + tr * bottom


@njit(exact=True)
def _ink_box(src):
    """(first row, last row, first col, last col) of the nonzero pixels of src.

    (SIDE, -1, SIDE, -1) for a blank image.
    """
    r_lo, r_hi, c_lo, c_hi = SIDE, -1, SIDE, -1
    for r in range(SIDE):
        for c in range(SIDE):
            if src[r, c] != 0.0:
                r_lo, r_hi = min(r_lo, r), max(r_hi, r)
                c_lo, c_hi = min(c_lo, c), max(c_hi, c)
    return r_lo, r_hi, c_lo, c_hi


@njit(exact=True)
def _clip_span(base, slope, low, high, first, last):
    """The columns c in first..last where base + slope * c lies in [low, high].

    An empty span has first > last. Callers widen [low, high] by far more than the rounding of
    either side.
    """
    if abs(slope) < 1e-9:
        return (first, last) if low <= base <= high else (SIDE, -1)
    a, b = (low - base) / slope, (high - base) / slope
    a, b = max(min(a, b), -1.0), min(max(a, b), float(SIDE))
    return max(first, math.ceil(a)), min(last, math.floor(b))


@njit(exact=True)
def _affine_rows(src, cos, sin, off_r, off_c, dst):
    """dst: (SIDE, SIDE) = bilinear samples of src at the affine coordinates of each pixel.

    Only columns whose source coordinate lies less than a pixel (plus a 1e-6 margin, far above
    rounding) from the ink's bounding box are interpolated; the others have four zero
    neighbours, and their bilinear value is exactly 0, so they are written as 0: the same
    result at a fraction of the cost on digits (most of a 28x28 digit is background).
    """
    r_lo, r_hi, c_lo, c_hi = _ink_box(src)
    for r in range(SIDE):
        pr = float(r)
        first, last = 0, LAST
        if r_hi < 0:
            first, last = SIDE, -1
        else:
            first, last = _clip_span(
                cos * pr + off_r, sin, r_lo - _REACH, r_hi + _REACH, first, last
            )
            first, last = _clip_span(
                -sin * pr + off_c, cos, c_lo - _REACH, c_hi + _REACH, first, last
            )
        for c in range(SIDE):
            if c < first or c > last:
                dst[r, c] = 0.0
            else:
                pc = float(c)
                dst[r, c] = _bilinear(
                    src, cos * pr + sin * pc + off_r, -sin * pr + cos * pc + off_c
                )


@njit(exact=True)
def _augment_one(
    X,
    row,
    levels,
    key,
    rotate,
    scale,
    shift,
    alpha,
    weights,
    noise,
    src,
    dst,
    fx,
    fy,
    pad,
    tmp,
    acc,
    normals,
):
    """Image X[row] -> dst (SIDE, SIDE) float64 in [0, 1]; the other arrays are scratch.

    ``levels``: (256,) float64 ``arange(256) / 255`` for integer X, (0,) for float X.
    """
    if levels.shape[0]:  # integer pixels: the exact p / 255 from a table (no reciprocal)
        for r in range(SIDE):
            for c in range(SIDE):
                src[r, c] = levels[int(X[row, r * SIDE + c])]
    else:
        for r in range(SIDE):
            for c in range(SIDE):
                src[r, c] = X[row, r * SIDE + c]
    if rotate > 0 or scale > 0 or shift > 0 or alpha > 0:
        u0 = uniform(key, STREAM_AFFINE, 0)
        u1 = uniform(key, STREAM_AFFINE, 1)
        u2 = uniform(key, STREAM_AFFINE, 2)
        u3 = uniform(key, STREAM_AFFINE, 3)
        theta = math.radians(rotate * (2.0 * u0 - 1.0))
        factor = 1.0 + scale * (2.0 * u1 - 1.0)
        shift_x, shift_y = shift * (2.0 * u2 - 1.0), shift * (2.0 * u3 - 1.0)
        cos, sin = np.cos(theta) / factor, np.sin(theta) / factor
        moved_r, moved_c = CENTRE + shift_y, CENTRE + shift_x
        off_r = CENTRE - (cos * moved_r + sin * moved_c)
        off_c = CENTRE - (-sin * moved_r + cos * moved_c)
        if alpha == 0:
            _affine_rows(src, cos, sin, off_r, off_c, dst)
        else:
            _displacement(key, weights, alpha, pad, tmp, acc, fx, fy)
            for r in range(SIDE):
                for c in range(SIDE):
                    pr, pc = float(r) + fy[r, c], float(c) + fx[r, c]
                    dst[r, c] = _bilinear(
                        src, cos * pr + sin * pc + off_r, -sin * pr + cos * pc + off_c
                    )
    else:
        dst[:, :] = src
    if noise > 0:
        _pixel_noise(key, noise, normals, dst)


@njit(exact=True)
def _sincos_small(theta):
    """(sin, cos) of theta in [-pi/4, pi/4] by Taylor polynomials (error < 1e-17 + rounding).

    Unlike libm calls, a loop of these vectorizes.
    """
    t2 = theta * theta
    sin = 0.0
    for coef in _SIN_TAYLOR:
        sin = sin * t2 + coef
    cos = 0.0
    for coef in _COS_TAYLOR:
        cos = cos * t2 + coef
    return sin * theta, cos


@njit(exact=True)
def _pixel_noise(key, noise, normals, dst):
    """dst: (SIDE, SIDE) += noise * N(0, 1), clipped to [0, 1].

    N(0, 1) by the reference's Box-Muller (see ``reference.augment.normals``). ``normals``:
    (N_PIXELS,) scratch.
    """
    for k in range(N_PIXELS):  # loops without libm calls vectorize: keep them apart
        normals[k] = uniform(key, STREAM_NOISE, k)
    for p in range(N_PIXELS // 2):
        normals[2 * p] = np.sqrt(-2.0 * np.log(1.0 - normals[2 * p]))
    for p in range(N_PIXELS // 2):
        radius, turn = normals[2 * p], 4.0 * normals[2 * p + 1]
        quadrant = int(turn)
        sin, cos = _sincos_small((turn - quadrant - 0.5) * _HALF_PI)
        odd = (quadrant & 1) == 1
        first, second = (sin, cos) if odd else (cos, sin)  # rotate by quadrant * pi / 2
        normals[2 * p] = radius * (-first if quadrant == 1 or quadrant == 2 else first)
        normals[2 * p + 1] = radius * (-second if quadrant >= 2 else second)
    for r in range(SIDE):
        for c in range(SIDE):
            value = dst[r, c] + noise * normals[r * SIDE + c]
            value = value if value > 0.0 else 0.0
            dst[r, c] = value if value < 1.0 else 1.0


@njit(exact=True)
def augment_rows(
    X,
    rows,
    ids,
    start,
    stop,
    levels,
    seed,
    epoch,
    rotate,
    scale,
    shift,
    alpha,
    weights,
    noise,
    out,
):
    """out[i] = X[rows[i]] augmented as image ``ids[i]``, for i in start..stop-1.

    ``ids[i]`` is the key of the image's draws. Serial and GIL-free: the wrapper runs one
    contiguous chunk per thread; an image's result does not depend on the chunking.
    """
    src = np.empty((SIDE, SIDE))
    dst = np.empty((SIDE, SIDE))
    fx = np.empty((SIDE, SIDE))
    fy = np.empty((SIDE, SIDE))
    pad = np.zeros((SIDE + 2 * PAD, 2 * SIDE))
    tmp = np.zeros((SIDE + 2 * PAD, 2 * SIDE))
    acc = np.empty(2 * SIDE * SIDE)
    normals = np.empty(SIDE * SIDE)
    for i in range(start, stop):
        row = rows[i]
        key = image_key(seed, epoch, ids[i])
        _augment_one(
            X,
            row,
            levels,
            key,
            rotate,
            scale,
            shift,
            alpha,
            weights,
            noise,
            src,
            dst,
            fx,
            fy,
            pad,
            tmp,
            acc,
            normals,
        )
        for r in range(SIDE):
            for c in range(SIDE):
                out[i, r * SIDE + c] = dst[r, c]
