"""MLPs of any depth on the Numba kernels, with the names and signatures of
:mod:`mnistbench.reference.network` (``forward``, ``backward``, ``predict_proba``, ``predict``,
``network_epoch``), plus ``train_network`` on the shared loop
:func:`~mnistbench.reference.training.fit`.

X may be raw ``uint8`` pixels (scaled by 1/255 inside the kernels, never converted in memory) or
floats; everything is validated here before a kernel runs (see :mod:`.checks`). The kernels
(``_jit_network.py``) split every batch across ``numba.get_num_threads()`` threads.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from mnistbench.reference.model import History
from mnistbench.reference.network import ACTIVATIONS, Forward, Network, init_network
from mnistbench.reference.optim import OptimizerConfig, OptimizerState, init_state
from mnistbench.reference.training import Callback, TrainConfig, fit

from . import _jit_network as _k
from ._gemm import RANK, SLAB, TILE_ROWS, TILE_UNITS
from ._jit import NO_UPDATE
from ._sync import SYNC_WORDS
from .checks import check_l2, check_labels, check_order, check_positive_float, check_X, scale_for

__all__ = [
    "backward",
    "check_network",
    "forward",
    "network_epoch",
    "predict",
    "predict_proba",
    "train_network",
]


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


def _check_activation(activation: Any) -> int:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return ACTIVATIONS.index(activation)


class _Layout:
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


class _Workspace:
    """Every buffer the kernels write, for batches of up to ``rows`` rows, allocated once."""

    def __init__(self, layout: _Layout, rows: int, *, train: bool, keep_z: bool = False,
                 predict_rows: int = 0) -> None:  # fmt: skip
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
        )

    def buffers(self) -> tuple:
        return (self.acts, self.zs, self.ds, self.deltas, self.grads, self.labels, self.out)


def _data(X: np.ndarray, Y: np.ndarray | None, order: np.ndarray | None, dtype: np.dtype):
    """The kernels' view of the inputs: raw bytes, how to read them, scale, labels, order."""
    kind = {np.dtype(np.uint8): _k.X_UINT8, np.dtype(np.float32): _k.X_FLOAT32}.get(
        X.dtype, _k.X_FLOAT64
    )
    raw = X if X.dtype == np.uint8 else X.view(np.uint8).reshape(X.shape[0], -1)
    Y = np.zeros(1, np.int64) if Y is None else Y
    order = np.zeros(0, np.int64) if order is None else order
    return (raw, kind, scale_for(X, dtype), Y, order)


def _no_optimizer(layout: _Layout, code: int = NO_UPDATE, l2: float = 0.0) -> tuple:
    empty = np.zeros(1, layout.dtype)
    return (empty, empty, np.array([0.0, 0.0, 0.0, 0.0, 1.0, l2]), code, 0)


_pools: dict[int, ThreadPoolExecutor] = {}


def _launch(work: _Workspace, job: int, code: int, net: tuple, opt: tuple, data: tuple,
            batch_size: int = 1) -> int:  # fmt: skip
    """``network_job`` on ``work.parts`` threads at once (part 0 on this one); its result."""
    parts = work.parts
    sync = np.zeros(SYNC_WORDS, np.int64)

    def run(part: int) -> int:
        return _k.network_job(job, part, parts, sync, code, net, opt, data, work.buffers(),
                              work.scratch, batch_size)  # fmt: skip

    if parts == 1:
        return run(0)
    if parts - 1 not in _pools:  # a pool of its own: a part queued behind other work would
        _pools[parts - 1] = ThreadPoolExecutor(parts - 1, thread_name_prefix="mnistbench-net")
    futures = [_pools[parts - 1].submit(run, part) for part in range(1, parts)]
    result = run(0)
    for future in futures:
        future.result()
    return result


def forward(network: Network, X: np.ndarray, activation: str = "relu") -> Forward:
    """X: (m, n_in) uint8 or float -> Forward(Z, A), each (m, units) per layer, network dtype."""
    network = check_network(network)
    code = _check_activation(activation)
    X = check_X(X, network.n_in, network.dtype)
    layout = _Layout(network.sizes, network.dtype)
    m = X.shape[0]
    work = _Workspace(layout, m, train=False, keep_z=True)
    net = layout.net(layout.flatten(network))
    _launch(
        work, _k.ROWS_FORWARD, code, net, _no_optimizer(layout), _data(X, None, None, network.dtype)
    )
    Z, A = layout.blocks(work.zs[0], m)[1:], layout.blocks(work.acts[0], m)[1:]
    return Forward(tuple(Z), tuple(A))


def predict_proba(network: Network, X: np.ndarray, activation: str = "relu") -> np.ndarray:
    """X: (m, n_in) uint8 or float -> class probabilities (m, n_out) in the network's dtype."""
    network = check_network(network)
    code = _check_activation(activation)
    X = check_X(X, network.n_in, network.dtype)
    layout = _Layout(network.sizes, network.dtype)
    m = X.shape[0]
    work = _Workspace(layout, 0, train=False, predict_rows=m)
    net = layout.net(layout.flatten(network))
    _launch(
        work, _k.ROWS_PREDICT, code, net, _no_optimizer(layout), _data(X, None, None, network.dtype)
    )
    return work.out


def predict(network: Network, X: np.ndarray, activation: str = "relu") -> np.ndarray:
    """X: (m, n_in) -> most probable class per row, (m,) int64 (first on ties)."""
    return np.argmax(predict_proba(network, X, activation), axis=1)


def backward(
    network: Network,
    fwd: Forward,
    X: np.ndarray,
    Y: np.ndarray,
    activation: str = "relu",
    l2: float = 0.0,
) -> Network:
    """Gradients of the mean cross-entropy (+ 0.5 l2 |W|^2) from stored activations ``fwd``."""
    network = check_network(network)
    code = _check_activation(activation)
    X = check_X(X, network.n_in, network.dtype)
    m = X.shape[0]
    Y = check_labels(Y, m, network.n_out)
    l2 = check_l2(l2)
    layout = _Layout(network.sizes, network.dtype)
    expected = [(m, int(s)) for s in layout.sizes[1:]]
    if (
        not isinstance(fwd, tuple)
        or len(fwd) != 2
        or any(
            not isinstance(part, (tuple, list)) or [np.shape(a) for a in part] != expected
            for part in fwd
        )
    ):
        raise ValueError(f"fwd must be Forward(Z, A) with arrays of shapes {expected}")
    work = _Workspace(layout, m, train=True, keep_z=True)
    acts, zs = layout.blocks(work.acts[0], m), layout.blocks(work.zs[0], m)
    acts[0][:] = X * scale_for(X, network.dtype) if X.dtype == np.uint8 else X
    for layer in range(1, len(acts)):
        acts[layer][:] = fwd.A[layer - 1]
        zs[layer][:] = fwd.Z[layer - 1]
    work.labels[:] = Y
    net = layout.net(layout.flatten(network))
    _launch(work, _k.ROWS_BACKWARD, code, net, _no_optimizer(layout, NO_UPDATE, l2),
            _data(X, Y, None, network.dtype))  # fmt: skip
    return Network(layout.unflatten(work.grads))


class NetworkRunner:
    """Validated data and a workspace for batches of up to ``batch_rows`` rows; ``run`` trains
    one epoch in one njit call (the epoch function :func:`train_network` hands to ``fit``)."""

    def __init__(self, network: Network, X: Any, Y: Any, batch_rows: int, *,
                 activation: str = "relu", optimizer: OptimizerConfig | None = None,
                 l2: float = 0.0) -> None:  # fmt: skip
        network = check_network(network)
        self.code = _check_activation(activation)
        self.X = check_X(X, network.n_in, network.dtype)
        self.Y = check_labels(Y, self.X.shape[0], network.n_out)
        self.optimizer = optimizer or OptimizerConfig()
        if not isinstance(self.optimizer, OptimizerConfig):
            raise TypeError(f"optimizer must be an OptimizerConfig, got {type(optimizer)}")
        self.l2 = check_l2(l2)
        self.layout = _Layout(network.sizes, network.dtype)
        self.work = _Workspace(self.layout, batch_rows, train=True)

    def run(self, network: Network, order: np.ndarray, batch_size: int, learning_rate: float,
            state: OptimizerState) -> tuple[Network, float, int]:  # fmt: skip
        """One epoch; returns (new network, loss sum, correct) and advances ``state`` in place."""
        layout = self.layout
        shapes = tuple(np.shape(a) for a in network)
        if shapes != layout.shapes or network[0].dtype != layout.dtype:
            raise ValueError(f"network must keep the shapes {layout.shapes} and dtype "
                             f"{layout.dtype} this runner was built for, got {shapes}")  # fmt: skip
        if not 1 <= batch_size <= self.work.rows:
            raise ValueError(f"batch_size must be in 1..{self.work.rows}, got {batch_size}")
        _check_state(state, network)
        opt = self.optimizer
        params = layout.flatten(network).copy()
        first, second = layout.flatten(state.first).copy(), layout.flatten(state.second).copy()
        hyper = np.array([learning_rate, opt.momentum, opt.beta1, opt.beta2, opt.eps, self.l2])
        stats = self.work.scratch[4]
        stats[:] = 0
        optimizer_args = (first, second, hyper, opt.code, state.t)
        data = _data(self.X, self.Y, order, layout.dtype)
        work = self.work
        state.t = _launch(work, _k.TRAIN, self.code, layout.net(params), optimizer_args, data,
                          batch_size)  # fmt: skip
        for buffers, flat in ((state.first, first), (state.second, second)):
            for target, value in zip(buffers, layout.unflatten(flat), strict=True):
                target[...] = value
        return Network(layout.unflatten(params)), float(stats[:, 0].sum()), int(stats[:, 1].sum())


def _check_state(state: Any, network: Network) -> None:
    if not isinstance(state, OptimizerState):
        raise TypeError(f"state must be an OptimizerState, got {type(state).__name__}")
    for which in ("first", "second"):
        buffers = getattr(state, which)
        if len(buffers) != len(network):
            raise ValueError(f"state.{which} must hold {len(network)} arrays, got {len(buffers)}")
        for index, (b, p) in enumerate(zip(buffers, network, strict=True)):
            if not isinstance(b, np.ndarray) or b.shape != p.shape or b.dtype != p.dtype:
                raise ValueError(f"state.{which}[{index}] must be a {p.dtype} array of shape "
                                 f"{p.shape}, got {getattr(b, 'dtype', type(b))} "
                                 f"{getattr(b, 'shape', '')}")  # fmt: skip
            if not b.flags.writeable:
                raise ValueError(f"state.{which}[{index}] must be writeable")
    if isinstance(state.t, bool) or not isinstance(state.t, (int, np.integer)) or state.t < 0:
        raise ValueError(f"state.t must be an integer >= 0, got {state.t!r}")


def network_epoch(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    learning_rate: float,
    state: OptimizerState,
    optimizer: OptimizerConfig,
    l2: float = 0.0,
    activation: str = "relu",
) -> tuple[Network, float, int]:
    """Numba twin of ``reference.network.network_epoch``: one epoch over consecutive
    ``batch_size`` slices of ``order``. X: (m, n_in) uint8 or float. Each batch's loss and
    correct count are measured before its update. Returns (new network, loss sum, correct); the
    input network is untouched, ``state`` is advanced in place."""
    network = check_network(network)
    runner = NetworkRunner(network, X, Y, 1, activation=activation, optimizer=optimizer, l2=l2)
    order, batch_size = check_order(order, runner.X.shape[0], batch_size)
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    runner.work = _Workspace(runner.layout, batch_size, train=True)
    return runner.run(network, order, batch_size, learning_rate, state)


def train_network(
    X: np.ndarray,
    Y: np.ndarray,
    sizes_or_network: Sequence[int] | Network,
    *,
    activation: str = "relu",
    optimizer: OptimizerConfig | None = None,
    batch_size: int | None = 128,
    epochs: int = 10,
    learning_rate: float = 1e-3,
    lr_schedule: str = "constant",
    l2: float = 0.0,
    seed: int = 0,
    dtype: np.typing.DTypeLike = np.float32,
    X_dev: np.ndarray | None = None,
    Y_dev: np.ndarray | None = None,
    callback: Callback | None = None,
    state: OptimizerState | None = None,
) -> tuple[Network, History]:
    """Train an MLP on the Numba kernels with :func:`~mnistbench.reference.training.fit`.

    ``sizes_or_network``: layer sizes ``(n_in, h1, ..., n_out)`` (initialised by
    ``init_network(sizes, activation=..., seed=seed, dtype=dtype)``) or a Network to start
    from (converted to ``dtype``). ``batch_size=None`` trains full batch. ``optimizer``
    defaults to Adam. Returns (trained network, history).
    """
    _check_activation(activation)
    optimizer = optimizer or OptimizerConfig("adam")
    if (
        isinstance(sizes_or_network, tuple)
        and sizes_or_network
        and isinstance(sizes_or_network[0], np.ndarray)
    ):
        network = check_network(sizes_or_network).astype(dtype)
    else:
        network = init_network(sizes_or_network, activation=activation, seed=seed, dtype=dtype)
    config = TrainConfig(
        hidden=int(network.sizes[1]), batch_size=batch_size, epochs=epochs,
        optimizer=optimizer.name, learning_rate=learning_rate, lr_schedule=lr_schedule, l2=l2,
        seed=seed, dtype=np.dtype(dtype).name,
    )  # fmt: skip
    m = np.shape(X)[0] if np.ndim(X) == 2 else 0
    rows = m if batch_size is None else min(batch_size, max(m, 1))
    runner = NetworkRunner(network, X, Y, rows, activation=activation, optimizer=optimizer, l2=l2)
    if X_dev is not None and Y_dev is not None:
        X_dev = check_X(X_dev, network.n_in, network.dtype, "X_dev")
        Y_dev = check_labels(Y_dev, X_dev.shape[0], network.n_out, "Y_dev", "X_dev")
    if state is None:
        state = init_state(network)
    _check_state(state, network)
    return fit(
        runner.run,
        lambda net, X_new: predict(net, X_new, activation),
        runner.X.shape[0],
        network,
        config,
        optimizer,
        X_dev=X_dev,
        Y_dev=Y_dev,
        state=state,
        callback=callback,
    )
