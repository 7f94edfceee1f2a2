"""Private row-wise Numba kernels of the layer-stack path: a hidden activation and its derivative
in place (``activate_row``), and the softmax of a row of logits (``softmax_row``)."""

from __future__ import annotations

import math

import numpy as np

from ._approx import erf, exp, tanh
from ._numba import njit

# Positions in the reference's ACTIVATIONS.
RELU, LEAKY_RELU, TANH, LOGISTIC, GELU, IDENTITY = (np.int64(i) for i in range(6))
LEAKY_RELU_SLOPE = 0.01
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit
def activate_row(a, d, code):
    """a <- f(a) and d <- f'(a) elementwise, for hidden activation ``code``."""
    T = a.dtype.type
    n = a.shape[0]
    if code == RELU:
        for j in range(n):
            z = a[j]
            d[j] = T(1) if z > 0 else T(0)
            a[j] = max(z, T(0))
    elif code == LEAKY_RELU:
        slope = T(LEAKY_RELU_SLOPE)
        for j in range(n):
            z = a[j]
            d[j] = T(1) if z > 0 else slope
            a[j] = z if z > 0 else slope * z
    elif code == TANH:
        for j in range(n):
            y = tanh(a[j])
            a[j] = y
            d[j] = T(1) - y * y
    elif code == LOGISTIC:
        for j in range(n):
            z = a[j]
            e = exp(-abs(z))
            y = T(1) / (T(1) + e) if z >= 0 else e / (T(1) + e)
            a[j] = y
            d[j] = y * (T(1) - y)
    elif code == IDENTITY:
        for j in range(n):
            d[j] = T(1)
    else:
        for j in range(n):
            z = a[j]
            phi = T(0.5) * (T(1) + erf(z * T(_INV_SQRT2)))
            a[j] = z * phi
            d[j] = phi + z * exp(T(-0.5) * z * z) * T(_INV_SQRT_2PI)


@njit
def softmax_row(z):
    """z <- softmax(z) in place; returns (log of the exp-sum, max) of the logits."""
    top = z[0]
    for j in range(1, z.shape[0]):
        top = max(top, z[j])
    total = z.dtype.type(0)
    for j in range(z.shape[0]):
        e = exp(z[j] - top)
        z[j] = e
        total += e
    for j in range(z.shape[0]):
        z[j] = z[j] / total
    return np.log(total), top
