"""Plumbing of the layer-stack kernels for :mod:`.network`.

Input checks for networks and optimizer state, the flat layout of a network's arrays, the
per-row workspace, the named tuples ``_jit_network.network_job`` reads its arguments from, and
the launcher that runs it on every thread at once.

Numba passes a ``NamedTuple`` to jitted code like a plain tuple (same layout, same machine code)
and lets it read the fields by name, as pynndescent does with its hyper-parameters.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numba
import numpy as np

from mnistbench.reference.network import ACTIVATIONS, Network, activation_name
from mnistbench.reference.optim import OptimizerConfig, OptimizerState
from mnistbench.reference.outputs import check_targets, output_name

from . import _jit_network as _k
from ._barrier import SYNC_WORDS
from ._gemm import RANK, SLAB, TILE_ROWS, TILE_UNITS
from ._jit_blocks import X_FLOAT32, X_FLOAT64, X_UINT8
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


def check_activation(activation: Any, output: Any = "softmax") -> int:
    """Return the kernels' code for ``activation``, or raise ValueError.

    Its position in the reference's ACTIVATIONS (an alias such as "sigmoid" resolved), plus
    ``OUTPUT_LOGISTIC`` for a logistic (multilabel) output layer.
    """
    code = ACTIVATIONS.index(activation_name(activation))
    return code + int(_k.OUTPUT_LOGISTIC) if output_name(output) == "logistic" else code


def check_indicator(Y: Any, m: int, n_out: int) -> np.ndarray:
    """A multilabel (m, n_out) 0/1 matrix, flattened to the kernels' (m * n_out,) int64."""
    Y = check_targets(Y, m, n_out, "logistic")
    return np.ascontiguousarray(Y, dtype=np.int64).ravel()


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


class Net(NamedTuple):
    """A network for the kernels: flat ``params`` and where each layer sits in it."""

    params: np.ndarray  # W1, b1, ..., WL, bL (then batch norm's gamma, beta), C order
    sizes: np.ndarray  # (n_in, h1, ..., n_out) int64
    woff: np.ndarray  # offset of W_l in params, int64 per layer
    boff: np.ndarray  # offset of b_l in params
    cum: np.ndarray  # offset of layer l's units in a row of a per-row buffer


class Hyper(NamedTuple):
    """The optimizer's float64 hyper-parameters and the penalties."""

    learning_rate: float
    momentum: float
    beta1: float
    beta2: float
    eps: float
    l2: float
    l1: float


class Optimizer(NamedTuple):
    """Optimizer state flat like ``Net.params``, hyper-parameters, update rule, step count."""

    first: np.ndarray
    second: np.ndarray
    hyper: Hyper
    code: int  # SGD, MOMENTUM, ADAM, NESTEROV or NO_UPDATE (gradients into Buffers.grads)
    step: int


class Regularization(NamedTuple):
    """Dropout and/or batch norm of a TRAIN job (see :func:`kernel_data`)."""

    mask_rows: np.ndarray  # int64 data-set row of each entry of order (dropout masks)
    rates: np.ndarray  # float64 dropout rate per hidden layer; empty: no dropout
    keep: np.ndarray  # float64 scale of a kept unit per hidden layer
    seed: np.uint64  # dropout seed
    goff: np.ndarray  # int64 offset of gamma in params per hidden layer; empty: no batch norm
    running_mean: np.ndarray  # compute dtype, hidden layer l at cum[l]
    running_var: np.ndarray
    momentum: float  # batch norm's running-statistics momentum


class Data(NamedTuple):
    """The inputs as the kernels read them."""

    X: np.ndarray  # (m, bytes per row) uint8: raw bytes of the rows
    x_kind: np.int64  # how to read them: X_UINT8, X_FLOAT32 or X_FLOAT64
    scale: np.floating  # 1/255 for uint8 pixels, else 1 (compute dtype)
    Y: np.ndarray  # int64 labels
    order: np.ndarray  # int64 rows of a TRAIN job's epoch
    reg: Regularization | None  # None: no dropout, no batch norm (a specialisation of its own)


class Buffers(NamedTuple):
    """The per-row buffers (one block per layer, see ``_jit_network``) and outputs."""

    acts: np.ndarray
    zs: np.ndarray
    ds: np.ndarray
    deltas: np.ndarray
    grads: np.ndarray  # NO_UPDATE: the gradients, flat like Net.params
    labels: np.ndarray
    out: np.ndarray  # PREDICT: the probabilities


class Scratch(NamedTuple):
    """Per-thread scratch (first axis: the thread's part), batch norm's shared slots."""

    slabs: np.ndarray  # (parts, SLAB, widest): a slab of dZ @ W or dW rows
    coefs: np.ndarray  # (parts, SLAB, coefs): the packed operand of rank_slab
    tile: np.ndarray  # (parts, TILE_ROWS, TILE_UNITS): dot_rows' register tile
    spare: np.ndarray  # (parts, widest): f' nobody keeps
    stats: np.ndarray  # (parts, 8) float64: loss sum, correct count
    bn_blocks: np.ndarray  # (blocks, 5, total) float64 partial sums per block of TILE_ROWS rows
    bn_stats: np.ndarray  # (parts, 4, total) each thread's statistics, compute dtype
    bn_merge: np.ndarray  # (parts, 2, total) float64 merge scratch


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

    def net(self, params: np.ndarray) -> Net:
        return Net(params, self.sizes, self.woff, self.boff, self.cum)

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
        # One label per row, or (logistic output) a row of the flattened indicator.
        self.labels = np.zeros(max(rows, 1) * int(layout.sizes[-1]), np.int64)
        self.out = np.zeros(
            (predict_rows, int(layout.sizes[-1])) if predict_rows else (1, 1), dtype
        )
        coefs = -(-max(rows, widest) // RANK) * RANK
        self.scratch = Scratch(
            slabs=np.zeros((parts, SLAB, widest), dtype),
            coefs=np.zeros((parts, SLAB, coefs), dtype),
            tile=np.zeros((parts, TILE_ROWS, TILE_UNITS), dtype),
            spare=np.zeros((parts, widest), dtype),
            stats=np.zeros((parts, 8), np.float64),
            bn_blocks=np.zeros(
                ((-(-rows // TILE_ROWS), 5, total) if train else (1, 5, 1)), np.float64
            ),
            bn_stats=np.zeros((parts, 4, total) if train else (parts, 4, 1), dtype),
            bn_merge=np.zeros((parts, 2, total) if train else (parts, 2, 1), np.float64),
        )

    def buffers(self) -> Buffers:
        return Buffers(self.acts, self.zs, self.ds, self.deltas, self.grads, self.labels, self.out)


def kernel_data(
    X: np.ndarray,
    Y: np.ndarray | None,
    order: np.ndarray | None,
    dtype: np.dtype,
    reg: Regularization | None = None,
) -> Data:
    """Return the kernels' view of the inputs (see :class:`Data`).

    ``reg``: the dropout and batch norm of a TRAIN job; ``None`` (neither) compiles
    ``network_job`` without their code (see ``_jit_regularized``).
    """
    kind = {np.dtype(np.uint8): X_UINT8, np.dtype(np.float32): X_FLOAT32}.get(X.dtype, X_FLOAT64)
    raw = X if X.dtype == np.uint8 else X.view(np.uint8).reshape(X.shape[0], -1)
    Y = np.zeros(1, np.int64) if Y is None else Y
    order = np.zeros(0, np.int64) if order is None else order
    # Read-only views whatever the caller's flags: Numba types a read-only array apart from a
    # writeable one, so mixed flags (read-only embedded labels when training, fresh zeros when
    # predicting) compiled network_job twice per dtype (~10 s CPU each on 2 cores).
    return Data(_read_only(raw), kind, scale_for(X, dtype), _read_only(Y), _read_only(order), reg)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def optimizer(
    first: np.ndarray,
    second: np.ndarray,
    learning_rate: float,
    config: OptimizerConfig,
    step: int,
    l2: float = 0.0,
    l1: float = 0.0,
) -> Optimizer:
    """The kernels' optimizer: every hyper-parameter a Python float (one compiled type)."""
    hyper = Hyper(
        *(float(v) for v in (learning_rate, config.momentum, config.beta1, config.beta2)),
        float(config.eps),
        float(l2),
        float(l1),
    )
    return Optimizer(first, second, hyper, int(config.code), int(step))


def no_optimizer(layout: Layout, code: int = NO_UPDATE, l2: float = 0.0) -> Optimizer:
    empty = np.zeros(1, layout.dtype)
    return Optimizer(empty, empty, Hyper(0.0, 0.0, 0.0, 0.0, 1.0, float(l2), 0.0), code, 0)


_pools: dict[int, ThreadPoolExecutor] = {}


def launch(
    work: Workspace,
    job: int,
    code: int,
    net: Net,
    opt: Optimizer,
    data: Data,
    batch_size: int = 1,
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
