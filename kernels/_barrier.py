"""A spin-then-yield barrier for njit code run by several Python threads at once.

The layer-stack epoch runs as one njit call per thread (``_jit_network.network_job``) with two
barriers per batch. A ``parallel=True`` function with one ``prange`` region per phase was the
first version: ~1 us per region with the omp threading layer, but it compiled every kernel
three more times (parfor body, gufunc, caller) and took ~30 s cold; a region costs ~50 us with
the workqueue layer. These intrinsics (sequentially consistent LLVM atomics) are all a barrier
needs, and Numba caches functions that use them.
"""

from __future__ import annotations

import sys

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._numba import njit

# Spins before each sched_yield (~5-20 us): longer than the imbalance between two threads
# finishing a phase on an idle machine; short, so that on an oversubscribed one a waiting
# thread soon yields its core to the thread it waits for.
SPINS_BEFORE_YIELD = 2_000
# The two barrier words sit 64 bytes apart (own cache lines) in an int64 array of 16.
SYNC_WORDS = 16
_ARRIVED, _GENERATION = 0, 8


def _element_pointer(context, builder, array_type, array, index):
    array_struct = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, array_struct, [index])


@intrinsic
def atomic_add(typingctx, array, index, value):
    """array[index] += value atomically; returns the old value (int64 arrays)."""
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", pointer, value, "seq_cst")

    return types.int64(array, index, value), codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """array[index], read atomically (int64 arrays)."""
    if not (isinstance(array, types.Array) and array.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(pointer, "seq_cst", 8)

    return types.int64(array, index), codegen


@intrinsic
def yield_cpu(typingctx):
    """sched_yield() where there is one (POSIX); a no-op elsewhere."""

    def codegen(context, builder, signature, args):
        if sys.platform != "win32":
            function_type = ir.FunctionType(ir.IntType(32), [])
            function = cgutils.get_or_insert_function(builder.module, function_type, "sched_yield")
            builder.call(function, [])
        return context.get_dummy_value()

    return types.none(), codegen


@njit
def barrier(sync, parts):
    """Wait until all ``parts`` threads have arrived; sync: int64 (SYNC_WORDS,), zeroed once."""
    if parts == 1:
        return
    generation = atomic_load(sync, _GENERATION)
    if atomic_add(sync, _ARRIVED, 1) == parts - 1:
        atomic_add(sync, _ARRIVED, -parts)
        atomic_add(sync, _GENERATION, 1)
        return
    spins = 0
    while atomic_load(sync, _GENERATION) == generation:
        spins += 1
        if spins >= SPINS_BEFORE_YIELD:
            yield_cpu()
            spins = 0
