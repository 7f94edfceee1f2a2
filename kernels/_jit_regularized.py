"""Private Numba pieces of dropout and batch norm for the layer-stack epoch (``_jit_network``).

The math is :mod:`mnistbench.reference.regularized` and :mod:`mnistbench.reference.batchnorm`.
Everything here runs inside ``_jit_network.network_job`` on every thread at once, each thread on
its own slice ``r0..r1-1`` of the batch's rows, inlined into the entry points at the end.

* Dropout: the mask of (seed, step, layer, data-set row, unit) is hashed in the forward
  epilogue (:mod:`._jit_dropout`, bit-identical to the reference's) and multiplied into both the
  activations and f', so the backward chain applies it without storing it.
* Batch norm, forward: each thread writes the count, mean and sum of squared deviations per
  unit (float64) of each block of 8 rows it holds into that block's slots; after a barrier
  every thread merges all blocks in order (Chan et al.'s pairwise update), so all threads hold
  the same batch statistics, whatever the thread count; part 0 moves the running statistics.
  Backward: each block's sums of dH and dH * Zhat, a barrier, the same sums over blocks in
  order, then dZ for the thread's rows. The sums are gamma's and beta's gradients, so every
  thread can update its own slice of units with them.

The epoch reaches all of this through the entry points at the end (:func:`train_flags`,
:func:`normalize_forward`, :func:`drop_layer`, :func:`normalize_backward`,
:func:`gamma_offset`), which take the job's ``Regularization`` or ``None``. They are Numba
overloads chosen by that argument's type: with ``None`` (a fit without dropout or batch norm,
and every job but TRAIN) each is a no-op, so that ``network_job`` is compiled without batch
norm's and dropout's code: cold compile of a plain epoch 10.3 -> 8.0 s CPU (float32), 9.5 ->
7.6 s (float64). A regularised fit compiles its own specialisation too (10.3-11.2 s alone, 10.7 s
before), and through the estimator the plain one for its predictions (a first dropout fit 9.9 ->
13.7 s, once). The overloads are called, not inlined (inlined, that specialisation took 14-15 s).

Slots: ``all_slots`` is the (blocks, 5, total) float64 scratch (block b: rows 8b..8b+7; threads
split rows at multiples of 8), ``stat`` a thread's (4, total) block in the compute dtype:
mean, 1 / sqrt(var + eps), sum of dH, sum of dH * Zhat; a hidden layer's units sit at offset
``off`` (= cum[layer]).
"""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import overload

from mnistbench.reference.batchnorm import BN_EPS

from ._barrier import barrier
from ._gemm import TILE_ROWS
from ._jit_dropout import absorb, stream_key, unit_uniform
from ._numba import inline, options

MEAN, M2, COUNT, SUM_DH, SUM_DHZ = 0, 1, 2, 3, 4  # float64 slots
INV_STD, DH, DHZ = 1, 2, 3  # compute-dtype stats (MEAN shared)
# forward_rows flags (TRAIN): dropout, batch norm.
DROPOUT, BATCH_NORM = np.int64(8), np.int64(16)


@inline
def drop_rows(A, D, r0, r1, key, mask_rows, start, rate, keep):
    """Inverted dropout on buffer rows r0..r1-1 of A (activations) and D (f').

    Entry (r, j) is multiplied by ``keep`` when the uniform of (key, data-set row
    ``mask_rows[start + r]``, unit j) is >= ``rate``, else by 0.
    """
    T = A.dtype.type
    kept, zero = T(keep), T(0)
    for r in range(r0, r1):
        row_key = absorb(key, np.uint64(mask_rows[start + r]))
        a, d = A[r], D[r]
        for j in range(A.shape[1]):
            value = kept if unit_uniform(row_key, j) >= rate else zero
            a[j] *= value
            d[j] *= value


@inline
def _merge(all_slots, blocks, off, units, mean, m2):
    """mean, m2 (float64 (units,)) <- the blocks' (count, mean, M2) merged in block order."""
    n = 0.0
    for j in range(units):
        mean[j] = 0.0
        m2[j] = 0.0
    for p in range(blocks):
        n_p = all_slots[p, COUNT, off]
        if n_p == 0:
            continue
        total = n + n_p
        for j in range(units):
            delta = all_slots[p, MEAN, off + j] - mean[j]
            mean[j] += delta * (n_p / total)
            m2[j] += all_slots[p, M2, off + j] + delta * delta * (n * n_p / total)
        n = total


@inline
def bn_forward(
    Z,
    Zhat,
    r0,
    r1,
    m,
    all_slots,
    stat_64,
    stat,
    part,
    parts,
    sync,
    off,
    gamma,
    beta,
    running_mean,
    running_var,
    momentum,
):
    """Rows r0..r1-1 of Z <- gamma * Zhat + beta with the batch's statistics, in place.

    Z: the m rows of the batch, pre-activations. Zhat is kept for the backward pass. One barrier.
    """
    T = Z.dtype.type
    units = Z.shape[1]
    for i in range(r0, r1, TILE_ROWS):
        slots, i1 = all_slots[i // TILE_ROWS], min(i + TILE_ROWS, r1)
        mean_p, m2_p = slots[MEAN, off : off + units], slots[M2, off : off + units]
        slots[COUNT, off] = i1 - i
        for j in range(units):
            mean_p[j] = 0.0
            m2_p[j] = 0.0
        for r in range(i, i1):
            for j in range(units):
                mean_p[j] += Z[r, j]
        for j in range(units):
            mean_p[j] /= i1 - i
        for r in range(i, i1):
            for j in range(units):
                d = Z[r, j] - mean_p[j]
                m2_p[j] += d * d
    barrier(sync, parts)
    mean64, m2_64 = stat_64[0, off : off + units], stat_64[1, off : off + units]
    _merge(all_slots, (m + TILE_ROWS - 1) // TILE_ROWS, off, units, mean64, m2_64)
    mean, inv_std = stat[MEAN, off : off + units], stat[INV_STD, off : off + units]
    keep, take, unbias = T(1.0 - momentum), T(momentum), T(m / max(m - 1, 1))
    for j in range(units):
        mean[j] = T(mean64[j])
        var = T(m2_64[j] / m)
        inv_std[j] = T(1) / np.sqrt(var + T(BN_EPS))
        if part == 0 and m > 1:  # a batch of one row leaves them unchanged
            running_mean[j] = keep * running_mean[j] + take * mean[j]
            running_var[j] = keep * running_var[j] + take * (var * unbias)
    for r in range(r0, r1):
        for j in range(units):
            zhat = (Z[r, j] - mean[j]) * inv_std[j]
            Zhat[r, j] = zhat
            Z[r, j] = gamma[j] * zhat + beta[j]


@inline
def bn_backward(dH, Zhat, r0, r1, m, all_slots, stat, parts, sync, off, gamma):
    """Rows r0..r1-1 of dH <- the gradient w.r.t. Z, in place; the batch's sums into ``stat``.

    dH: the loss's gradient w.r.t. H, already divided by the batch's m rows. stat[DH],
    stat[DHZ] <- the sums of dH and dH * Zhat over the batch (beta's and gamma's gradients).
    One barrier.
    """
    T = dH.dtype.type
    units = dH.shape[1]
    for i in range(r0, r1, TILE_ROWS):
        slots = all_slots[i // TILE_ROWS]
        sum_p, sumz_p = slots[SUM_DH, off : off + units], slots[SUM_DHZ, off : off + units]
        for j in range(units):
            sum_p[j] = 0.0
            sumz_p[j] = 0.0
        for r in range(i, min(i + TILE_ROWS, r1)):
            for j in range(units):
                sum_p[j] += dH[r, j]
                sumz_p[j] += dH[r, j] * Zhat[r, j]
    barrier(sync, parts)
    dbeta, dgamma = stat[DH, off : off + units], stat[DHZ, off : off + units]
    inv_std = stat[INV_STD, off : off + units]
    blocks = (m + TILE_ROWS - 1) // TILE_ROWS
    for j in range(units):
        total, total_z = 0.0, 0.0
        for p in range(blocks):
            total += all_slots[p, SUM_DH, off + j]
            total_z += all_slots[p, SUM_DHZ, off + j]
        dbeta[j] = T(total)
        dgamma[j] = T(total_z)
    inv_m = T(1.0 / m)
    for r in range(r0, r1):
        for j in range(units):
            dZhat_mean = dbeta[j] * inv_m
            dZhat_z_mean = dgamma[j] * inv_m
            dH[r, j] = gamma[j] * inv_std[j] * (dH[r, j] - dZhat_mean - Zhat[r, j] * dZhat_z_mean)


# The entry points network_job calls, overloaded on the type of ``reg``: ``None`` compiles to a
# no-op. The Python bodies are never run: only compiled code calls these.


def train_flags(reg):
    """DROPOUT and/or BATCH_NORM, as ``reg`` asks (0 for ``None``)."""
    raise NotImplementedError("compiled code only")


def normalize_forward(reg, params, A, Z, r0, r1, rows, scratch, threads, off, layer):
    """Batch norm of hidden ``layer`` on rows r0..r1-1 of A (see :func:`bn_forward`)."""
    raise NotImplementedError("compiled code only")


def drop_layer(reg, A, D, r0, r1, step, start, layer):
    """Dropout of hidden ``layer`` on rows r0..r1-1 of A and D (see :func:`drop_rows`)."""
    raise NotImplementedError("compiled code only")


def normalize_backward(reg, params, dZ, Z, r0, r1, rows, scratch, threads, off, layer):
    """Batch norm's backward for hidden ``layer`` (the one before it: ``layer - 1`` of gamma)."""
    raise NotImplementedError("compiled code only")


def gamma_offset(reg, layer):
    """Where gamma of hidden ``layer`` sits in ``params`` (0 for ``None``)."""
    raise NotImplementedError("compiled code only")


_OPTIONS = dict(jit_options=options(exact=True))


@overload(train_flags, **_OPTIONS)
def _train_flags(reg):
    if isinstance(reg, types.NoneType):
        return lambda reg: np.int64(0)

    def impl(reg):
        dropout = DROPOUT if reg.rates.shape[0] > 0 else np.int64(0)
        return dropout | (BATCH_NORM if reg.goff.shape[0] > 0 else np.int64(0))

    return impl


@overload(normalize_forward, **_OPTIONS)
def _normalize_forward(reg, params, A, Z, r0, r1, rows, scratch, threads, off, layer):
    if isinstance(reg, types.NoneType):
        return lambda reg, params, A, Z, r0, r1, rows, scratch, threads, off, layer: None

    def impl(reg, params, A, Z, r0, r1, rows, scratch, threads, off, layer):
        sync, part, parts = threads
        units = A.shape[1]
        at = reg.goff[layer - 1]
        bn_forward(
            A,
            Z,
            r0,
            r1,
            rows,
            scratch.bn_blocks,
            scratch.bn_merge[part],
            scratch.bn_stats[part],
            part,
            parts,
            sync,
            off,
            params[at : at + units],
            params[at + units : at + 2 * units],
            reg.running_mean[off : off + units],
            reg.running_var[off : off + units],
            reg.momentum,
        )

    return impl


@overload(drop_layer, **_OPTIONS)
def _drop_layer(reg, A, D, r0, r1, step, start, layer):
    if isinstance(reg, types.NoneType):
        return lambda reg, A, D, r0, r1, step, start, layer: None

    def impl(reg, A, D, r0, r1, step, start, layer):
        rate = reg.rates[layer - 1]
        if rate > 0:
            key = stream_key(reg.seed, step, layer - 1)
            drop_rows(A, D, r0, r1, key, reg.mask_rows, start, rate, reg.keep[layer - 1])

    return impl


@overload(normalize_backward, **_OPTIONS)
def _normalize_backward(reg, params, dZ, Z, r0, r1, rows, scratch, threads, off, layer):
    if isinstance(reg, types.NoneType):
        return lambda reg, params, dZ, Z, r0, r1, rows, scratch, threads, off, layer: None

    def impl(reg, params, dZ, Z, r0, r1, rows, scratch, threads, off, layer):
        sync, part, parts = threads
        at = reg.goff[layer - 1]
        bn_backward(
            dZ,
            Z,
            r0,
            r1,
            rows,
            scratch.bn_blocks,
            scratch.bn_stats[part],
            parts,
            sync,
            off,
            params[at : at + dZ.shape[1]],
        )

    return impl


@overload(gamma_offset, **_OPTIONS)
def _gamma_offset(reg, layer):
    if isinstance(reg, types.NoneType):
        return lambda reg, layer: np.int64(0)
    return lambda reg, layer: reg.goff[layer - 1]
