"""Plumbing of the layer-stack kernels for :mod:`.network`: input checks for networks and
optimizer state, the flat layout of a network's arrays, the per-row workspace, and the launcher
that runs ``_jit_network.network_job`` on every thread at once."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from mnistbench.reference.network import ACTIVATIONS, Network, activation_name
from mnistbench.reference.optim import OptimizerState

from . import _jit_network as _k
from ._barrier import SYNC_WORDS
from ._gemm import RANK, SLAB, TILE_ROWS, TILE_UNITS
from ._jit_seed import NO_UPDATE
from .checks import scale_for


def check_network(network: Any) -> Network:
    """A Network of C-contiguous, finite float32/float64 arrays (W_l (out, in), b_l (out,))."""
    if isinstance(network, Network):
        arrays = tuple(network)
    elif isinstance(network, (tuple, list)):
        arrays = tuple(network)
    else:
        raise TypeError(f"network must be a Network (W1, b1, ..., WL, bL), got {type(network)}")
    network = Network(np.ascontiguousarray(a) for a in arrays)  # checks layout and dtypes
    if network.n_out < 2:
        raise ValueError(f"the last layer needs >= 2 units (classes), got {network.n_out}")
    for index, a in enumerate(network):
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in the quick sum
            total = float(np.sum(a, dtype=np.float64))
        if not math.isfinite(total) and not np.isfinite(a).all():
            kind = "W" if index % 2 == 0 else "b"
            raise ValueError(f"network {kind}{index // 2 + 1} contains NaN or Inf")
    return network


def check_activation(activation: Any) -> int:
    """The kernels' code for ``activation`` (its position in the reference's ACTIVATIONS; an
    alias such as "sigmoid" resolved), or ValueError."""
    return ACTIVATIONS.index(activation_name(activation))


def check_state(state: Any, network: Network) -> None:
    if not isinstance(state, OptimizerState):
        raise TypeError(f"state must be an OptimizerState, got {type(state).__name__}")
    for which in ("first", "second"):
        buffers = getattr(state, which)
        if len(buffers) != len(network):
            raise ValueError(f"state.{which} must hold {len(network)} arrays, got {len(buffers)}")
        for index, (b, p) in enumerate(zip(buffers, network, strict=True)):
            if not isinstance(b, np.ndarray) or b.shape != p.shape or b.dtype != p.dtype:
                raise ValueError(
                    f"state.{which}[{index}] must be a {p.dtype} array of shape "
                    f"{p.shape}, got {getattr(b, 'dtype', type(b))} "
                    f"{getattr(b, 'shape', '')}"
                )
            if not b.flags.writeable:
                raise ValueError(f"state.{which}[{index}] must be writeable")
    if isinstance(state.t, bool) or not isinstance(state.t, (int, np.integer)) or state.t < 0:
        raise ValueError(f"state.t must be an integer >= 0, got {state.t!r}")


class Layout:
    """Offsets of a network's arrays in one flat vector and of its layers in per-row buffers."""

    def __init__(self, sizes: Sequence[int], dtype: np.dtype) -> None:
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.dtype = np.dtype(dtype)
        shapes = []
        for n_in, n_out in itertools.pairwise(sizes):
            shapes += [(n_out, n_in), (n_out,)]
        self.shapes = tuple(shapes)
        ends = np.cumsum([math.prod(s) for s in shapes])
        starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
        self.woff, self.boff = starts[0::2].copy(), starts[1::2].copy()
        self.n_params = int(ends[-1])
        self.cum = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def flatten(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(a) for a in arrays]).astype(self.dtype, copy=False)

    def unflatten(self, flat: np.ndarray) -> list[np.ndarray]:
        out, at = [], 0
        for shape in self.shapes:
            size = math.prod(shape)
            out.append(flat[at : at + size].reshape(shape))
            at += size
        return out

    def net(self, params: np.ndarray) -> tuple:
        return (params, self.sizes, self.woff, self.boff, self.cum)

    def blocks(self, flat: np.ndarray, rows: int) -> list[np.ndarray]:
        """Views (rows, sizes[l]) of a flat per-row buffer, layers 0..L."""
        return [
            flat[rows * self.cum[i] : rows * self.cum[i + 1]].reshape(rows, int(s))
            for i, s in enumerate(self.sizes)
        ]


class Workspace:
    """Every buffer the kernels write, for batches of up to ``rows`` rows, allocated once."""

    def __init__(
        self, layout: Layout, rows: int, *, train: bool, keep_z: bool = False, predict_rows: int = 0
    ) -> None:
        dtype, total = layout.dtype, int(layout.cum[-1])
        self.parts = parts = max(1, numba.get_num_threads())
        widest = int(layout.sizes.max())
        self.rows = rows
        per_row = (1, rows * total)
        self.acts = np.zeros((parts, _k.PREDICT_CHUNK * total) if predict_rows else per_row, dtype)
        self.zs = np.zeros(per_row if keep_z else (1, 1), dtype)
        self.ds = np.zeros(per_row if train else (1, 1), dtype)
        self.deltas = np.zeros(per_row if train else (1, 1), dtype)
        self.grads = np.zeros(layout.n_params if train else 1, dtype)
        self.labels = np.zeros(max(rows, 1), np.int64)
        self.out = np.zeros(
            (predict_rows, int(layout.sizes[-1])) if predict_rows else (1, 1), dtype
        )
        coefs = -(-max(rows, widest) // RANK) * RANK
        self.scratch = (
            np.zeros((parts, SLAB, widest), dtype),
            np.zeros((parts, SLAB, coefs), dtype),
            np.zeros((parts, TILE_ROWS, TILE_UNITS), dtype),
            np.zeros((parts, widest), dtype),
            np.zeros((parts, 8), np.float64),
            # batch norm (see _jit_regularized): partial sums per block of TILE_ROWS rows
            # (float64), each thread's statistics (dtype) and merge scratch (float64)
            np.zeros(((-(-rows // TILE_ROWS), 5, total) if train else (1, 5, 1)), np.float64),
            np.zeros((parts, 4, total) if train else (parts, 4, 1), dtype),
            np.zeros((parts, 2, total) if train else (parts, 2, 1), np.float64),
        )

    def buffers(self) -> tuple:
        return (self.acts, self.zs, self.ds, self.deltas, self.grads, self.labels, self.out)


def no_regularization(dtype: np.dtype) -> tuple:
    """``data[5]`` of a job without dropout or batch norm (see :func:`kernel_data`)."""
    empty, no_stats = np.zeros(0, np.int64), np.zeros(1, dtype)
    return (empty, np.zeros(0), np.zeros(0), np.uint64(0), empty, no_stats, no_stats, 0.1)


def kernel_data(
    X: np.ndarray,
    Y: np.ndarray | None,
    order: np.ndarray | None,
    dtype: np.dtype,
    reg: tuple | None = None,
):
    """The kernels' view of the inputs: raw bytes, how to read them, scale, labels, order, and
    the regularisation of a TRAIN job, ``reg`` = (mask_rows (int64, one per entry of order),
    dropout rates and keep scales per hidden layer (float64; empty: no dropout), seed (uint64),
    gamma offsets in params per hidden layer (int64; empty: no batch norm), running mean and
    variance (dtype, hidden layer l at cum[l]), batch-norm momentum)."""
    kind = {np.dtype(np.uint8): _k.X_UINT8, np.dtype(np.float32): _k.X_FLOAT32}.get(
        X.dtype, _k.X_FLOAT64
    )
    raw = X if X.dtype == np.uint8 else X.view(np.uint8).reshape(X.shape[0], -1)
    Y = np.zeros(1, np.int64) if Y is None else Y
    order = np.zeros(0, np.int64) if order is None else order
    reg = no_regularization(np.dtype(dtype)) if reg is None else reg
    # Read-only views whatever the caller's flags: Numba types a read-only array apart from a
    # writeable one, so mixed flags (read-only embedded labels when training, fresh zeros when
    # predicting) compiled network_job twice per dtype (~10 s CPU each on 2 cores).
    return (_read_only(raw), kind, scale_for(X, dtype), _read_only(Y), _read_only(order), reg)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def no_optimizer(layout: Layout, code: int = NO_UPDATE, l2: float = 0.0) -> tuple:
    empty = np.zeros(1, layout.dtype)
    return (empty, empty, np.array([0.0, 0.0, 0.0, 0.0, 1.0, l2, 0.0]), code, 0)


_pools: dict[int, ThreadPoolExecutor] = {}


def launch(
    work: Workspace, job: int, code: int, net: tuple, opt: tuple, data: tuple, batch_size: int = 1
) -> int:
    """``network_job`` on ``work.parts`` threads at once (part 0 on this one); its result."""
    parts = work.parts
    sync = np.zeros(SYNC_WORDS, np.int64)

    def run(part: int) -> int:
        return _k.network_job(
            job, part, parts, sync, code, net, opt, data, work.buffers(), work.scratch, batch_size
        )

    if parts == 1:
        return run(0)
    if parts - 1 not in _pools:  # a pool of its own: a part queued behind other work would
        _pools[parts - 1] = ThreadPoolExecutor(parts - 1, thread_name_prefix="mnistbench-net")
    futures = [_pools[parts - 1].submit(run, part) for part in range(1, parts)]
    result = run(0)
    for future in futures:
        future.result()
    return result
