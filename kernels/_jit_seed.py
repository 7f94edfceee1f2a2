"""Private Numba kernels of the seed's one-hidden-layer network.

No validation here: callers check everything first (``checks.py``).

Conventions shared by every kernel:

* the compute dtype is the parameters' dtype (float64 or float32); ``X`` is either that dtype or
  raw ``uint8`` pixels, in which case ``scale = 1/255`` is folded into the first layer
  (``Z1 = scale * X @ W1.T + b1``, ``dW1 = scale * dZ1.T @ X``) so pixels are never converted in
  memory;
* labels are ``int64`` already checked to lie in ``0..n_out-1``;
* gradient sums are accumulated per chunk of samples into ``acc_*[chunk]`` (one chunk per thread)
  and reduced serially afterwards, so results are bit-identical for a given thread count;
* losses are accumulated in float64 whatever the compute dtype.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._approx import exp
from ._jit_prefetch import AHEAD, prefetch_row
from ._jit_rows import sum_row
from ._jit_seed_tiles import layer1_block as _layer1_block
from ._numba import njit

# Samples processed together in the register-blocked loops (written out for exactly four).
BLOCK = 4

SGD, MOMENTUM, ADAM = 0, 1, 2
NESTEROV = 3  # momentum with Nesterov's look-ahead (OptimizerConfig(nesterov=True))
NO_UPDATE = -1


@njit
def forward_rows(W1, b1, W2, b2, X, scale, start, stop, Z1, A1, Z2, A2):
    """Forward pass of rows start..stop-1 into preallocated (m, units) outputs.

    The first layer uses the same register-blocked loop as the fused kernel.
    """
    T = W1.dtype.type
    hidden, n_out = W1.shape[0], W2.shape[0]
    xb = np.zeros((BLOCK, X.shape[1]), W1.dtype)
    z1 = np.zeros((BLOCK, hidden), W1.dtype)
    for block in range(start, stop, BLOCK):
        nb = min(BLOCK, stop - block)
        for i in range(block + AHEAD, min(block + AHEAD + BLOCK, stop)):
            prefetch_row(X, i)
        _load_block(X, block, nb, xb)
        _layer1_block(W1, xb, z1)
        for s in range(nb):
            i = block + s
            for j in range(hidden):
                z = z1[s, j] * scale + b1[j]
                Z1[i, j] = z
                A1[i, j] = max(z, T(0))
            for o in range(n_out):
                acc = b2[o]
                for j in range(hidden):
                    acc += W2[o, j] * A1[i, j]
                Z2[i, o] = acc
            top = Z2[i, 0]
            for o in range(1, n_out):
                top = max(top, Z2[i, o])
            for o in range(n_out):
                A2[i, o] = exp(Z2[i, o] - top)
            total = sum_row(A2[i])
            for o in range(n_out):
                A2[i, o] = A2[i, o] / total


@njit
def _load_block(X, first, nb, xb):
    """Rows first..first+nb-1 of X, converted to the compute dtype, into xb[:nb]."""
    for s in range(nb):
        for k in range(X.shape[1]):
            xb[s, k] = X[first + s, k]


@njit(parallel=True)
def backward(W2, X, Y, scale, Z1, A1, A2, acc_W1, acc_b1, acc_W2, acc_b2, gW1, gb1, gW2, gb2):
    """Plain backward pass from stored activations: mean gradients into g*, sums in acc_*."""
    T = W2.dtype.type
    m, n_in = X.shape
    hidden, n_out = Z1.shape[1], A2.shape[1]
    n_chunks = acc_W1.shape[0]
    for c in prange(n_chunks):
        dW1, db1, dW2, db2 = acc_W1[c], acc_b1[c], acc_W2[c], acc_b2[c]
        _fill_zero(dW1.ravel())
        _fill_zero(db1)
        _fill_zero(dW2.ravel())
        _fill_zero(db2)
        dZ2 = np.empty(n_out, W2.dtype)
        for i in range(c * m // n_chunks, (c + 1) * m // n_chunks):
            for o in range(n_out):
                dZ2[o] = A2[i, o] - (T(1) if o == Y[i] else T(0))
                db2[o] += dZ2[o]
                for j in range(hidden):
                    dW2[o, j] += dZ2[o] * A1[i, j]
            for j in range(hidden):
                if Z1[i, j] > 0:
                    d = T(0)
                    for o in range(n_out):
                        d += W2[o, j] * dZ2[o]
                    db1[j] += d
                    d *= scale
                    for k in range(n_in):
                        dW1[j, k] += d * T(X[i, k])
    _reduce_mean(acc_W1, acc_b1, acc_W2, acc_b2, gW1, gb1, gW2, gb2, n_chunks, T(1.0 / m))


@njit
def _reduce_mean(acc_W1, acc_b1, acc_W2, acc_b2, gW1, gb1, gW2, gb2, n_chunks, inv_m):
    """Set g = inv_m * sum of the first n_chunks per-thread accumulators (serial, fixed order)."""
    _sum_chunks(acc_W1.reshape(acc_W1.shape[0], -1), gW1.ravel(), n_chunks, inv_m)
    _sum_chunks(acc_b1, gb1, n_chunks, inv_m)
    _sum_chunks(acc_W2.reshape(acc_W2.shape[0], -1), gW2.ravel(), n_chunks, inv_m)
    _sum_chunks(acc_b2, gb2, n_chunks, inv_m)


@njit
def _sum_chunks(acc, out, n_chunks, inv_m):
    """out: (n,) = inv_m * sum(acc[:n_chunks]) for acc (chunks, n).

    Explicit loops compile fast.
    """
    for i in range(out.size):
        total = acc[0, i]
        for c in range(1, n_chunks):
            total += acc[c, i]
        out[i] = total * inv_m


@njit
def _fill_zero(a):
    for i in range(a.size):
        a[i] = 0


@njit
def _add_scaled(out, alpha, x):
    """Add alpha * x to out in place, on flat views."""
    for i in range(out.size):
        out[i] += alpha * x[i]


@njit
def accumulate(W1, b1, W2, b2, X, Y, rows, scale, dW1, db1, dW2, db2):
    """Fused forward + loss + backward over samples ``rows``; gradient *sums* into d*.

    The first layer runs on blocks of BLOCK samples copied (and converted to the compute dtype)
    into a small contiguous buffer, with two hidden units per pass over the pixels, so each load
    of a weight feeds BLOCK multiply-adds; the rows AHEAD of the block are prefetched. Returns
    (loss sum, number of correct predictions).
    """
    T = W1.dtype.type
    n_in = X.shape[1]
    hidden, n_out = W1.shape[0], W2.shape[0]
    xb = np.zeros((BLOCK, n_in), W1.dtype)
    z1 = np.zeros((BLOCK, hidden), W1.dtype)
    d1 = np.zeros((BLOCK, hidden), W1.dtype)
    logits = np.empty(n_out, W1.dtype)
    probs = np.empty(n_out, W1.dtype)
    _fill_zero(dW1.ravel())
    _fill_zero(db1)
    _fill_zero(dW2.ravel())
    _fill_zero(db2)
    loss_sum = 0.0
    correct = 0
    n = rows.shape[0]
    for start in range(0, n, BLOCK):
        nb = min(BLOCK, n - start)
        for i in range(start + AHEAD, min(start + AHEAD + BLOCK, n)):
            prefetch_row(X, rows[i])
        for s in range(nb):
            r = rows[start + s]
            for k in range(n_in):
                xb[s, k] = X[r, k]
        _layer1_block(W1, xb, z1)
        for s in range(BLOCK):
            if s >= nb:
                _fill_zero(d1[s])
                continue
            y = Y[rows[start + s]]
            for j in range(hidden):
                z1[s, j] = z1[s, j] * scale + b1[j]
            top = T(-np.inf)
            best = 0
            for o in range(n_out):
                acc = b2[o]
                for j in range(hidden):
                    acc += W2[o, j] * max(z1[s, j], T(0))
                logits[o] = acc
                if acc > top:
                    top = acc
                    best = o
            for o in range(n_out):
                probs[o] = exp(logits[o] - top)
            total = sum_row(probs)
            loss_sum += np.log(total) - (logits[y] - top)
            correct += best == y
            _fill_zero(d1[s])
            for o in range(n_out):
                d = probs[o] / total - (T(1) if o == y else T(0))
                db2[o] += d
                for j in range(hidden):
                    a = max(z1[s, j], T(0))
                    dW2[o, j] += d * a
                    d1[s, j] += W2[o, j] * d
            for j in range(hidden):
                if z1[s, j] <= 0:
                    d1[s, j] = 0
                db1[j] += d1[s, j]
        for j in range(hidden):
            c0, c1, c2, c3 = d1[0, j] * scale, d1[1, j] * scale, d1[2, j] * scale, d1[3, j] * scale
            if c0 == 0 and c1 == 0 and c2 == 0 and c3 == 0:
                continue
            g = dW1[j]
            for k in range(n_in):
                g[k] += c0 * xb[0, k] + c1 * xb[1, k] + c2 * xb[2, k] + c3 * xb[3, k]
    return loss_sum, correct


@njit(exact=True)
def optimizer_update(p, g, m, v, lr, code, momentum, beta1, beta2, eps, t):
    """One optimizer step on flat views (see reference/optim.py for the rules); t is 1-based."""
    T = p.dtype.type
    lr_, mu = T(lr), T(momentum)
    if code == SGD:
        for i in range(p.size):
            p[i] -= lr_ * g[i]
    elif code == MOMENTUM:
        for i in range(p.size):
            m[i] = mu * m[i] + g[i]
            p[i] -= lr_ * m[i]
    elif code == NESTEROV:
        for i in range(p.size):
            m[i] = mu * m[i] + g[i]
            p[i] -= lr_ * (g[i] + mu * m[i])
    else:
        b1, b2 = T(beta1), T(beta2)
        one_b1, one_b2 = T(1 - beta1), T(1 - beta2)
        corr1, corr2 = T(1 - beta1**t), T(1 - beta2**t)
        eps_ = T(eps)
        for i in range(p.size):
            m[i] = b1 * m[i] + one_b1 * g[i]
            v[i] = b2 * v[i] + one_b2 * (g[i] * g[i])
            p[i] -= lr_ * (m[i] / corr1) / (np.sqrt(v[i] / corr2) + eps_)


@njit
def finish_batch(
    W1,
    b1,
    W2,
    b2,
    n,
    n_chunks,
    l2,
    lr,
    code,
    momentum,
    beta1,
    beta2,
    eps,
    t,
    state_first,
    state_second,
    acc_W1,
    acc_b1,
    acc_W2,
    acc_b2,
    gW1,
    gb1,
    gW2,
    gb2,
):
    """Reduce a batch's accumulators into mean gradients in g*, then apply optimizer ``code``.

    The first ``n_chunks`` accumulators of an ``n``-sample batch give the mean gradients (+ L2 on
    the weights); ``code`` updates the parameters in place (``NO_UPDATE``: none).

    ``state_first``/``state_second`` are ``Params`` of the four per-parameter buffers; ``t`` counts
    the updates done so far. Returns the new ``t``.
    """
    T = W1.dtype.type
    _reduce_mean(acc_W1, acc_b1, acc_W2, acc_b2, gW1, gb1, gW2, gb2, n_chunks, T(1.0 / n))
    if l2 != 0:
        _add_scaled(gW1.ravel(), T(l2), W1.ravel())
        _add_scaled(gW2.ravel(), T(l2), W2.ravel())
    if code == NO_UPDATE:
        return t
    t += 1
    hyper = (lr, code, momentum, beta1, beta2, eps, t)
    optimizer_update(
        W1.ravel(), gW1.ravel(), state_first.W1.ravel(), state_second.W1.ravel(), *hyper
    )
    optimizer_update(b1, gb1, state_first.b1, state_second.b1, *hyper)
    optimizer_update(
        W2.ravel(), gW2.ravel(), state_first.W2.ravel(), state_second.W2.ravel(), *hyper
    )
    optimizer_update(b2, gb2, state_first.b2, state_second.b2, *hyper)
    return t


@njit
def train_epoch(
    W1,
    b1,
    W2,
    b2,
    X,
    Y,
    order,
    batch_size,
    scale,
    l2,
    lr,
    code,
    momentum,
    beta1,
    beta2,
    eps,
    t,
    state_first,
    state_second,
    acc_W1,
    acc_b1,
    acc_W2,
    acc_b2,
    gW1,
    gb1,
    gW2,
    gb2,
):
    """One epoch of mini-batch training, serially, in place on the params and optimizer state.

    Batches are consecutive slices of ``order`` (the last may be smaller); each batch's loss and
    accuracy are measured before its update. Uses accumulator 0 only: batches big enough to be
    worth splitting across threads go through ``accumulate`` + ``finish_batch`` from Python
    threads instead (see ``kernels/parallel.py``). Returns (loss sum, correct, t after).
    """
    m = order.shape[0]
    loss_sum = 0.0
    correct = 0
    for start in range(0, m, batch_size):
        rows = order[start : min(start + batch_size, m)]
        batch_loss, batch_correct = accumulate(
            W1, b1, W2, b2, X, Y, rows, scale, acc_W1[0], acc_b1[0], acc_W2[0], acc_b2[0]
        )
        loss_sum += batch_loss
        correct += batch_correct
        t = finish_batch(
            W1,
            b1,
            W2,
            b2,
            rows.shape[0],
            1,
            l2,
            lr,
            code,
            momentum,
            beta1,
            beta2,
            eps,
            t,
            state_first,
            state_second,
            acc_W1,
            acc_b1,
            acc_W2,
            acc_b2,
            gW1,
            gb1,
            gW2,
            gb2,
        )
    return loss_sum, correct, t
