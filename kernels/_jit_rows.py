"""Private row-wise Numba kernels of the layer-stack path.

A hidden activation and its derivative in place (``activate_row``), the softmax of a row of
logits (``softmax_row``, its sum by ``sum_row``) and the multilabel output's sigmoids
(``logistic_row``), and the output layer's loss and deltas (``top_rows``).
"""

from __future__ import annotations

import math

import numpy as np

from ._approx import erf, exp, tanh
from ._jit_blocks import block
from ._numba import inline, njit

# Positions in the reference's ACTIVATIONS.
RELU, LEAKY_RELU, TANH, LOGISTIC, GELU, IDENTITY = (np.int64(i) for i in range(6))
LEAKY_RELU_SLOPE = 0.01
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit
def activate_row(a, d, code):
    """Set a <- f(a) and d <- f'(a) elementwise, for hidden activation ``code``."""
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
def logistic_row(z):
    """Set z <- sigmoid(z) in place (exp of -|z| only: no overflow)."""
    T = z.dtype.type
    for j in range(z.shape[0]):
        v = z[j]
        e = exp(-abs(v))
        z[j] = T(1) / (T(1) + e) if v >= 0 else e / (T(1) + e)


@njit
def sum_row(z):
    """The sum of a 1-D array, in an order that depends on nothing but its length.

    A loop of its own, with no store: where one loop both stores to an array and sums, LLVM
    vectorizes it behind a run-time check that the arrays do not overlap and falls back to the
    scalar loop when the check fails; the check looks at addresses only, so how the heap
    happened to be laid out decided between the vector and the scalar summation order, and the
    same inputs gave results a few ulps apart from one call to the next.
    """
    total = z.dtype.type(0)
    for j in range(z.shape[0]):
        total += z[j]
    return total


@njit
def softmax_row(z):
    """Set z <- softmax(z) in place; returns (log of the exp-sum, max) of the logits."""
    top = z[0]
    for j in range(1, z.shape[0]):
        top = max(top, z[j])
    for j in range(z.shape[0]):
        z[j] = exp(z[j] - top)
    total = sum_row(z)
    for j in range(z.shape[0]):
        z[j] = z[j] / total
    return np.log(total), top


@inline
def top_rows(net, acts, deltas, rows, r0, r1, labels, logits, stats, logistic):
    """Deltas of layer L = (probabilities - targets) / rows for rows r0..r1-1.

    With ``logits`` block L holds logits: turn them into probabilities in place and add each
    row's loss to stats[0]; else it holds probabilities already. Adds the correct count to
    stats[1]. Softmax: ``labels`` one per row, the loss the cross-entropy (log-sum-exp), a row
    correct when its argmax (first on ties) is the label. ``logistic`` (multilabel sigmoids):
    ``labels`` the (rows, n_out) 0/1 indicator flattened, the loss the binary cross-entropy
    ``max(z, 0) - z y + log1p(exp(-|z|))`` summed over outputs in float64, a row correct when
    every ``p > 0.5`` matches its target.
    """
    sizes, cum = net.sizes, net.cum
    L = sizes.shape[0] - 1
    T = acts.dtype.type
    probs = block(acts, cum, rows, L, sizes[L])
    dZ = block(deltas, cum, rows, L, sizes[L])
    inv_m = T(1.0 / rows)
    n_out = sizes[L]
    if logistic:
        for i in range(r0, r1):
            p = probs[i]
            if logits:
                for j in range(n_out):
                    z, truth = float(p[j]), float(labels[i * n_out + j])
                    stats[0] += max(z, 0.0) - z * truth + math.log1p(math.exp(-abs(z)))
                logistic_row(p)
            right = True
            for j in range(n_out):
                target = labels[i * n_out + j]
                dZ[i, j] = (p[j] - T(target)) * inv_m
                right = right and (p[j] > T(0.5)) == (target == 1)
            stats[1] += right
    else:
        for i in range(r0, r1):
            y = labels[i]
            p = probs[i]
            if logits:
                z_y = p[y]
                log_total, top = softmax_row(p)
                stats[0] += float(log_total) - float(z_y - top)
            best = 0
            for j in range(n_out):
                dZ[i, j] = p[j] * inv_m
                if p[j] > p[best]:
                    best = j
            dZ[i, y] -= inv_m
            stats[1] += best == y
