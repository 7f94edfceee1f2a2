"""Software prefetch: the kernels ask for rows of ``X`` a few blocks before they read them.

The fused seed pass converts each row of ``X`` right before its block's first layer, so with no
hint every block waited for main memory (the conversion loop was ~23% of a one-thread pass over
41,000 uint8 rows: ~9 GB/s, latency-bound); mini-batches read their rows in shuffled order,
which no hardware prefetcher can guess. Asking for the rows ``AHEAD`` rows before they are read
made that pass 15-20% faster (AMD EPYC Zen 5, one thread, 41,000 x 784 uint8, float32: 16.2 ->
12.6 ms, 14.6 -> 12.4 ms, 15.3 -> 13.1 ms, medians of 11, interleaved; the same bits).

A prefetch is a hint: it never faults, changes no value and costs one load slot per cache line.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._numba import njit

# Rows asked for ahead of the one being read: 64 rows of 784 bytes (~50 KB, within L2). 64, 128
# and 256 rows ahead measured alike; 8 to 32 rows gained about half as much.
AHEAD = np.int64(64)
CACHE_LINE = 64


@intrinsic
def _prefetch(typingctx, array, index):
    """``llvm.prefetch`` of ``&array[index]``: a read, kept in every cache level."""
    if not (
        isinstance(array, types.Array) and array.ndim == 1 and isinstance(index, types.Integer)
    ):
        return None

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, view, [args[1]], wraparound=False
        )
        byte_pointer = builder.bitcast(pointer, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer.type, i32, i32, i32]),
            # LLVM 14's name for an i8* argument; later LLVMs (opaque pointers) upgrade it.
            "llvm.prefetch.p0i8",
        )
        read, keep_everywhere, data = (ir.Constant(i32, v) for v in (0, 3, 1))
        builder.call(function, [byte_pointer, read, keep_everywhere, data])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit
def prefetch_row(X, r):
    """Ask for every cache line of row ``r`` of the 2-D array ``X`` (for a C-contiguous one).

    A row with a stride is asked for at the same element offsets (a hint, nothing more).
    """
    row = X[r]
    n = row.shape[0]
    step = max(CACHE_LINE // row.itemsize, 1)
    for k in range(0, n, step):
        _prefetch(row, k)
    if n > 0:
        _prefetch(row, n - 1)  # the row's last line, when its start is not line-aligned
