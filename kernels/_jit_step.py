"""The optimizer's row step of the layer-stack kernels (``_jit_network.update_layer``).

The rules of :mod:`mnistbench.reference.optim` on one row of parameters, with the L1 and L2 terms
of the weights' gradient fused in, so a row of dW is penalised and applied while it is in L1.
"""

from __future__ import annotations

import numpy as np

from ._jit_seed import MOMENTUM, NESTEROV, NO_UPDATE, SGD
from ._numba import njit


@njit(exact=True)
def penalized(g, w, l2, l1):
    """Penalized gradient g + l1 * sign(w) + l2 * w (sign 0 at 0); all of w's dtype.

    Without L1 exactly the expression the kernels had before it (a loop-invariant branch LLVM
    hoists).
    """
    if l1 == 0:
        return g + l2 * w
    if w > 0:
        return g + l1 + l2 * w
    if w < 0:
        return g - l1 + l2 * w
    return g + l2 * w


@njit(exact=True)
def step_row(w, g, l2, l1, m, v, out, rule):
    """One optimizer step on a row of parameters ``w`` (the rules of reference/optim.py).

    The gradient is ``g + l1 * sign(w) + l2 * w``; ``m``, ``v`` are the rule's buffers; NO_UPDATE
    writes the gradient into ``out``.

    rule: (code, lr, momentum, beta1, beta2, eps, 1 - beta1**t, 1 - beta2**t), so the bias
    corrections are computed once per layer and batch, not per row.
    """
    code, lr, momentum, beta1, beta2, eps, corr1, corr2 = rule
    T = w.dtype.type
    l2_, l1_, lr_ = T(l2), T(l1), T(lr)
    if code == NO_UPDATE:
        for i in range(w.shape[0]):
            out[i] = penalized(g[i], w[i], l2_, l1_)
    elif code == SGD:
        for i in range(w.shape[0]):
            w[i] -= lr_ * penalized(g[i], w[i], l2_, l1_)
    elif code == MOMENTUM or code == NESTEROV:
        mu = T(momentum)
        for i in range(w.shape[0]):
            gi = penalized(g[i], w[i], l2_, l1_)
            m[i] = mu * m[i] + gi
            w[i] -= lr_ * (gi + mu * m[i] if code == NESTEROV else m[i])
    else:
        b1, b2, one_b1, one_b2 = T(beta1), T(beta2), T(1 - beta1), T(1 - beta2)
        c1, c2, eps_ = T(corr1), T(corr2), T(eps)
        for i in range(w.shape[0]):
            gi = penalized(g[i], w[i], l2_, l1_)
            m[i] = b1 * m[i] + one_b1 * gi
            v[i] = b2 * v[i] + one_b2 * (gi * gi)
            w[i] -= lr_ * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps_)
