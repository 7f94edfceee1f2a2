"""Private Numba kernels for MLPs of any depth (``network.py`` validates everything first).

Layout: the network lives in one flat array ``params`` (``W1, b1, ..., WL, bL``, each C-ordered,
at offsets ``woff``/``boff``; ``sizes = (n_in, h1, ..., n_out)``), and so do the optimizer
buffers and gradients. Per-row buffers (``acts``, ``ds``, ``deltas``, ``zs``) hold one block per
layer: block ``l`` (0..L) is ``(rows, sizes[l])`` at offset ``rows * cum[l]`` of row ``part`` of
a ``(parts, rows * sum(sizes))`` array; ``acts`` block 0 is the packed input, block L the logits,
then the probabilities. ``ds`` holds f'(Z) and ``deltas`` dLoss/dZ (already divided by the batch
size). Two specializations per compute dtype serve every depth, activation and input dtype
(``X`` arrives as raw bytes, ``x_kind`` says how to read them): one without dropout and batch
norm (``data.reg`` is ``None``: plain fits and every prediction) and one with them (see
``_jit_regularized``).

``network_job`` runs on every thread at once (Python threads, one njit call each per epoch) and
takes two phases per batch with a barrier after each: first each thread takes a slice of the
batch's rows through pack, forward (``forward_rows``), softmax/loss (``top_rows``) and the whole
backward chain (``backward_rows``); then each thread takes a slice of every layer's units (or of
its inputs, for narrow layers) and forms dW = dZ.T @ A_prev slab by slab (``update_layer``),
applying L2 and the optimizer to each slab while it is in L1. No gradient is ever summed across
threads, so results do not depend on the thread count (except the float64 loss sum's order).
A barrier measured 3-15 us on the shared, oversubscribed 2-core machine this was written on
(a ``prange`` region: ~1 us with the omp layer, ~50 us with workqueue; see ``_barrier.py``).

Regularisation (TRAIN only, ``data.reg``, see ``_jit_regularized.py``): dropout masks hashed in
the forward epilogue and multiplied into the activations and f'; L1 (``hyper.l1``) beside L2 in
the optimizer row step; batch norm (``BATCH_NORM``) after each hidden layer's GEMM, one barrier
per hidden layer forward and one backward, gamma and beta after the network in ``params``
(offsets ``goff``), the biases of normalised layers never updated (their gradient is 0).
"""

from __future__ import annotations

import numpy as np

from ._barrier import barrier
from ._gemm import SLAB, TILE_ROWS, dot_rows, rank_slab
from ._jit_blocks import block, copy, pack_row, split, weights
from ._jit_regularized import (
    BATCH_NORM,
    DH,
    DHZ,
    DROPOUT,
    drop_layer,
    gamma_offset,
    normalize_backward,
    normalize_forward,
    train_flags,
)
from ._jit_rows import activate_row, logistic_row, softmax_row, top_rows
from ._jit_step import step_row
from ._numba import inline, njit

# Integer constants that reach a call are np.int64, never Python ints: Numba types a literal
# argument as Literal[int](value) and compiles the callee once per distinct value.
ZERO, ONE = np.int64(0), np.int64(1)
# What network_job does.
FORWARD, PREDICT, BACKWARD, TRAIN = (np.int64(i) for i in range(4))
# forward_rows flags: keep pre-activations, keep f', softmax the last layer; (TRAIN) DROPOUT,
# BATCH_NORM (from _jit_regularized).
KEEP_Z, KEEP_D, PROBS = np.int64(1), np.int64(2), np.int64(4)
# forward_rows flag: the last layer is multilabel sigmoids, not a softmax.
LOGISTIC_OUT = np.int64(32)
# Added to the activation code: the network has a logistic (multilabel) output layer, whose
# targets are the flattened (m, n_out) 0/1 indicator in Data.Y.
OUTPUT_LOGISTIC = np.int64(64)
# Columns of dW a thread takes when a layer is too narrow to split by units.
COLUMN_ALIGN = np.int64(16)
# Rows a thread pushes through the whole network at a time when predicting.
PREDICT_CHUNK = np.int64(64)
# Units of a layer whose weights are swept together over a thread's rows (~300 KB at 784 inputs).
UNIT_CHUNK = np.int64(96)


# The phase functions network_job calls from one place each are inlined into it at Numba IR
# level: compiled once, instead of once standalone and once more inside the caller (cold
# compile of the whole path 6.9 -> 5.0 s CPU).
@inline
def forward_rows(
    net, code, acts, zs, ds, rows, r0, r1, flags, tile, spare, reg, scratch, threads, start, step
):
    """Layers 1..L for buffer rows r0..r1-1 (block 0 already packed), layer by layer.

    Hidden activations go into ``acts``, f' into ``ds`` (KEEP_D, else into ``spare``),
    pre-activations into ``zs`` (KEEP_Z; with BATCH_NORM the normalised ones); block L gets the
    logits, or the probabilities (PROBS). Units go in chunks of UNIT_CHUNK so a chunk of W
    stays in L2 for all rows. DROPOUT masks are drawn at (seed, ``step``, layer, data-set row
    ``mask_rows[start + r]``); BATCH_NORM waits for every thread once per hidden layer.
    """
    params, sizes, woff, boff, cum = net
    L = sizes.shape[0] - 1
    for layer in range(1, L + 1):
        W, b = weights(params, woff, boff, sizes, layer)
        units = sizes[layer]
        A_prev = block(acts, cum, rows, layer - 1, sizes[layer - 1])
        A = block(acts, cum, rows, layer, units)
        for j in range(0, units, UNIT_CHUNK):
            dot_rows(A_prev, W, b, A, r0, r1, j, min(j + UNIT_CHUNK, units), tile)
        if flags & BATCH_NORM and layer < L:
            Z = block(zs, cum, rows, layer, units)
            normalize_forward(reg, params, A, Z, r0, r1, rows, scratch, threads, cum[layer], layer)
        for r in range(r0, r1):
            if flags & KEEP_Z:
                copy(block(zs, cum, rows, layer, units)[r], A[r])
            if layer == L:
                if flags & PROBS and flags & LOGISTIC_OUT:
                    logistic_row(A[r])
                elif flags & PROBS:
                    softmax_row(A[r])
            elif flags & KEEP_D:
                activate_row(A[r], block(ds, cum, rows, layer, units)[r], code)
            else:
                activate_row(A[r], spare[:units], code)
        if flags & DROPOUT and layer < L:
            D = block(ds, cum, rows, layer, units)
            drop_layer(reg, A, D, r0, r1, step, start, layer)


@inline
def backward_rows(net, ds, deltas, rows, r0, r1, S, P, flags, zs, reg, scratch, threads):
    """Deltas of layers L-1..1 for rows r0..r1-1 from the deltas of layer L.

    The chain dZ_{l-1} = (dZ_l @ W_l) * f'(Z_{l-1}), 8 rows at a time through the slab scratch S;
    with BATCH_NORM each hidden layer's then goes through batch norm's backward (a barrier).
    """
    params, sizes, woff, boff, cum = net
    L = sizes.shape[0] - 1
    for layer in range(L, 1, -1):
        W, _ = weights(params, woff, boff, sizes, layer)
        units, n_prev = sizes[layer], sizes[layer - 1]
        D = block(ds, cum, rows, layer - 1, n_prev)
        dZ_prev = block(deltas, cum, rows, layer - 1, n_prev)
        for i in range(r0, r1, SLAB):
            n_rows = min(SLAB, r1 - i)
            base = rows * cum[layer] + i * units
            rank_slab(S, P, deltas, base, units, ONE, n_rows, W, units, ZERO, n_prev)
            for r in range(n_rows):
                for c in range(n_prev):
                    dZ_prev[i + r, c] = S[r, c] * D[i + r, c]
        if flags & BATCH_NORM:
            Z = block(zs, cum, rows, layer - 1, n_prev)
            off = cum[layer - 1]
            normalize_backward(
                reg, params, dZ_prev, Z, r0, r1, rows, scratch, threads, off, layer - 1
            )


@inline
def update_layer(
    net, opt, step, layer, deltas, acts, rows, part, parts, grads, S, P, normed, reg, stat
):
    """Gradients dW_l = dZ_l.T @ A_{l-1} (+ l1 sign(W) + l2 W) and db_l, then the optimizer step.

    For this part's units (or inputs, for layers narrower than 16 units a thread); the optimizer
    at ``step`` on them (NO_UPDATE: into grads). A ``normed`` (batch-norm) layer's biases stay
    (gradient 0); its gamma and beta take the gradients in ``stat`` for this part's units.
    """
    params, sizes, woff, boff, cum = net
    first, second, hyper = opt.first, opt.second, opt.hyper
    beta1, beta2, l2, l1 = hyper.beta1, hyper.beta2, hyper.l2, hyper.l1
    units, n_in = sizes[layer], sizes[layer - 1]
    if units >= 16 * parts:  # split the units
        j0, j1 = split(units, parts, part, SLAB)
        c0, c1 = 0, n_in
        b0, b1 = j0, j1
    else:  # split the inputs; part 0 takes the biases
        c0, c1 = split(n_in, parts, part, COLUMN_ALIGN)
        j0, j1 = 0, (units if c0 < c1 else 0)
        b0, b1 = 0, (units if part == 0 else 0)
    rule = (
        opt.code,
        hyper.learning_rate,
        hyper.momentum,
        beta1,
        beta2,
        hyper.eps,
        1.0 - beta1**step,
        1.0 - beta2**step,
    )
    A_prev = block(acts, cum, rows, layer - 1, n_in)
    dZ = block(deltas, cum, rows, layer, units)
    for j in range(j0, j1, SLAB):
        n_rows = min(SLAB, j1 - j)
        rank_slab(S, P, deltas, rows * cum[layer] + j, ONE, units, n_rows, A_prev, rows, c0, c1)
        for r in range(n_rows):
            at = woff[layer - 1] + (j + r) * n_in + c0
            n = c1 - c0
            step_row(
                params[at : at + n],
                S[r, :n],
                l2,
                l1,
                first[at : at + n],
                second[at : at + n],
                grads[at : at + n],
                rule,
            )
    if normed:
        g0, g1 = split(units, parts, part, ONE)
        for which, grad in ((0, stat[DHZ]), (1, stat[DH])):  # gamma, then beta
            at, off = gamma_offset(reg, layer) + which * units + g0, cum[layer] + g0
            n = g1 - g0
            step_row(
                params[at : at + n],
                grad[off : off + n],
                0.0,
                0.0,
                first[at : at + n],
                second[at : at + n],
                grad[off : off + n],
                rule,
            )
    elif b0 < b1:
        n = b1 - b0
        g = S[0, :n]
        for j in range(n):
            g[j] = 0
        for i in range(rows):  # each unit's sum in row order; vectorized across the units
            dz = dZ[i, b0:b1]
            for j in range(n):
                g[j] += dz[j]
        at = boff[layer - 1] + b0
        step_row(
            params[at : at + n],
            g,
            0.0,
            0.0,
            first[at : at + n],
            second[at : at + n],
            grads[at : at + n],
            rule,
        )


@njit
def network_job(job, part, parts, sync, code, net, opt, data, buffers, scratch, batch_size):
    """Part ``part`` of ``parts`` of a job; all parts run at once, one per thread.

    TRAIN: one epoch over consecutive ``batch_size`` slices of ``data.order``, in place on
    params and optimizer buffers, two barriers per batch; returns the new step count. Loss sums
    and correct counts accumulate in ``scratch.stats``. FORWARD: the forward pass of all rows,
    keeping every layer. PREDICT: probabilities into ``buffers.out``, PREDICT_CHUNK rows per
    thread at a time through its own buffers (no barrier). BACKWARD: gradients into
    ``buffers.grads`` from the stored forward pass. The arguments are the named tuples of
    ``_network_plumbing`` (``Net``, ``Optimizer``, ``Data``, ``Buffers``, ``Scratch``). One flat
    function on purpose, each phase called from one place: every njit call level compiles its
    callees' code again.
    """
    sizes, cum = net.sizes, net.cum
    X, x_kind, scale, Y, order, reg = data
    acts, zs, ds, deltas, grads, labels, out = buffers
    S, P = scratch.slabs[part], scratch.coefs[part]
    tile, spare, stats = scratch.tile[part], scratch.spare[part], scratch.stats[part]
    threads = (sync, part, parts)
    step = opt.step
    L = sizes.shape[0] - 1
    logistic = code >= OUTPUT_LOGISTIC
    if logistic:
        code = code - OUTPUT_LOGISTIC
    predict = job == PREDICT
    m = order.shape[0] if job == TRAIN else X.shape[0]
    if job == TRAIN:
        rows = min(batch_size, m)
    else:
        rows = PREDICT_CHUNK * parts if predict else m
    flags = PROBS if predict else (KEEP_Z | PROBS if job == FORWARD else KEEP_D)
    if job == TRAIN:  # regularisation trains only
        flags |= train_flags(reg)
    if logistic:
        flags |= LOGISTIC_OUT
    for start in range(0, m, rows):
        count = min(rows, m - start)
        lo, hi = split(count, parts, part, TILE_ROWS)
        # Buffer rows r0..r1-1 of a block with ``total`` rows hold batch rows lo..hi-1.
        buf, total = (acts[part], PREDICT_CHUNK) if predict else (acts[0], count)
        r0 = 0 if predict else lo
        r1 = r0 + hi - lo
        if job == BACKWARD:  # f' from the given pre-activations
            for layer in range(1, L):
                Z = block(zs[0], cum, count, layer, sizes[layer])
                D = block(ds[0], cum, count, layer, sizes[layer])
                for r in range(lo, hi):
                    copy(spare[: sizes[layer]], Z[r])
                    activate_row(spare[: sizes[layer]], D[r], code)
        else:
            inputs = block(buf, cum, total, ZERO, sizes[0])
            for r in range(r0, r1):
                src = order[start + lo + r - r0] if job == TRAIN else start + lo + r - r0
                pack_row(X, x_kind, src, inputs[r], scale)
                if job == TRAIN and logistic:
                    n_out = sizes[L]
                    for j in range(n_out):
                        labels[r * n_out + j] = Y[src * n_out + j]
                elif job == TRAIN:
                    labels[r] = Y[src]
            forward_rows(
                net,
                code,
                buf,
                zs[0],
                ds[0],
                total,
                r0,
                r1,
                flags,
                tile,
                spare,
                reg,
                scratch,
                threads,
                start,
                step,
            )
        if predict:
            probs = block(buf, cum, total, L, sizes[L])
            for r in range(r0, r1):
                copy(out[start + lo + r - r0], probs[r])
        if job == FORWARD or predict:
            continue
        logits = ONE if job == TRAIN else ZERO
        top_rows(net, acts[0], deltas[0], count, lo, hi, labels, logits, stats, logistic)
        backward_rows(
            net, ds[0], deltas[0], count, lo, hi, S, P, flags, zs[0], reg, scratch, threads
        )
        barrier(sync, parts)
        if job == TRAIN:
            step += 1
        for layer in range(L, 0, -1):
            normed = flags & BATCH_NORM and layer < L
            update_layer(
                net,
                opt,
                step,
                layer,
                deltas[0],
                acts[0],
                count,
                part,
                parts,
                grads,
                S,
                P,
                normed,
                reg,
                scratch.bn_stats[part],
            )
        barrier(sync, parts)
    return step
