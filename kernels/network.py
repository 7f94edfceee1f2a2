"""MLPs of any depth on the Numba kernels, with the names of :mod:`mnistbench.reference.network`.

The names and signatures are the reference's (``forward``, ``backward``, ``predict_proba``,
``predict``, ``network_epoch``), plus ``train_network`` on the shared loop
:func:`~mnistbench.reference.training.fit`.

X may be raw ``uint8`` pixels (scaled by 1/255 inside the kernels, never converted in memory) or
floats; everything is validated here before a kernel runs (see :mod:`.checks`). The kernels
(``_jit_network.py``) run as one njit call on each of ``numba.get_num_threads()`` Python
threads, which split every batch between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mnistbench.reference.model import History
from mnistbench.reference.network import Forward, Network, init_network
from mnistbench.reference.optim import OptimizerConfig, OptimizerState, init_state
from mnistbench.reference.training import Callback, TrainConfig, fit

from . import _jit_network as _k
from ._jit_seed import NO_UPDATE
from ._network_plumbing import (
    Layout,
    Workspace,
    check_activation,
    check_indicator,
    check_network,
    check_state,
    kernel_data,
    launch,
    no_optimizer,
    optimizer,
)
from .checks import check_l2, check_labels, check_order, check_positive_float, check_X, scale_for

__all__ = [
    "NetworkRunner",
    "backward",
    "check_network",
    "forward",
    "network_epoch",
    "predict",
    "predict_proba",
    "train_network",
]


def _prepare(
    network: Any, X: Any, activation: Any, output: Any = "softmax"
) -> tuple[Network, int, np.ndarray, Layout]:
    network = check_network(network)
    code = check_activation(activation, output)
    return (
        network,
        code,
        check_X(X, network.n_in, network.dtype),
        Layout(network.sizes, network.dtype),
    )


def forward(
    network: Network, X: np.ndarray, activation: str = "relu", output: str = "softmax"
) -> Forward:
    """X: (m, n_in) uint8 or float -> Forward(Z, A), each (m, units) per layer, network dtype.

    The Numba twin of :func:`mnistbench.reference.network.forward`.

    Parameters
    ----------
    network : Network
        The weights, float32 or float64 (see :func:`~mnistbench.reference.network.init_network`).
    X : numpy.ndarray
        (m, n_in) uint8 pixels (scaled by 1/255 inside the kernel) or floats.
    activation : str
        The hidden layers' activation.
    output : {"softmax", "logistic"}
        The output layer: softmax, or independent sigmoids (multilabel).

    Returns
    -------
    Forward
        ``Z`` and ``A``, one (m, units) array per layer, in the network's dtype.

    Raises
    ------
    TypeError, ValueError
        A malformed network, X of the wrong shape, dtype or with non-finite values, an unknown
        activation (the message names the offending value).

    Examples
    --------
    >>> from mnistbench.reference import network as reference
    >>> net = reference.init_network((784, 32, 10), seed=0, dtype=np.float32)
    >>> X = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    >>> fast, slow = forward(net, X), reference.forward(net, X)
    >>> bool(np.allclose(fast.A[-1], slow.A[-1], atol=1e-5))
    True
    """
    network, code, X, layout = _prepare(network, X, activation, output)
    m = X.shape[0]
    work = Workspace(layout, m, train=False, keep_z=True)
    data = kernel_data(X, None, None, layout.dtype)
    launch(work, _k.FORWARD, code, layout.net(layout.flatten(network)), no_optimizer(layout), data)
    Z, A = layout.blocks(work.zs[0], m)[1:], layout.blocks(work.acts[0], m)[1:]
    return Forward(tuple(Z), tuple(A))


def predict_proba(
    network: Network, X: np.ndarray, activation: str = "relu", output: str = "softmax"
) -> np.ndarray:
    """X: (m, n_in) uint8 or float -> class probabilities (m, n_out) in the network's dtype.

    Examples
    --------
    >>> from mnistbench.reference.network import init_network
    >>> net = init_network((784, 32, 10), seed=0, dtype=np.float32)
    >>> proba = predict_proba(net, np.zeros((3, 784), dtype=np.uint8))
    >>> proba.shape, proba.dtype, bool(np.allclose(proba.sum(axis=1), 1.0, atol=1e-6))
    ((3, 10), dtype('float32'), True)
    """
    network, code, X, layout = _prepare(network, X, activation, output)
    work = Workspace(layout, 0, train=False, predict_rows=X.shape[0])
    data = kernel_data(X, None, None, layout.dtype)
    launch(work, _k.PREDICT, code, layout.net(layout.flatten(network)), no_optimizer(layout), data)
    return work.out


def predict(
    network: Network, X: np.ndarray, activation: str = "relu", output: str = "softmax"
) -> np.ndarray:
    """X: (m, n_in) -> most probable class per row (m,) int64, or the (m, n_out) indicator.

    Ties go to the first class; with ``output="logistic"`` the int64 indicator is ``p > 0.5``.
    """
    proba = predict_proba(network, X, activation, output)
    return (proba > 0.5).astype(np.int64) if output == "logistic" else np.argmax(proba, axis=1)


def backward(
    network: Network,
    fwd: Forward,
    X: np.ndarray,
    Y: np.ndarray,
    activation: str = "relu",
    l2: float = 0.0,
    output: str = "softmax",
) -> Network:
    """Gradients of the mean cross-entropy (+ 0.5 l2 |W|^2) from stored activations ``fwd``."""
    network, code, X, layout = _prepare(network, X, activation, output)
    m = X.shape[0]
    Y = _targets(Y, m, network.n_out, output)
    l2 = check_l2(l2)
    expected = [(m, int(s)) for s in layout.sizes[1:]]
    parts_ok = isinstance(fwd, tuple) and len(fwd) == 2
    if not parts_ok or any(
        not isinstance(part, (tuple, list)) or [np.shape(a) for a in part] != expected
        for part in fwd
    ):
        raise ValueError(f"fwd must be Forward(Z, A) with arrays of shapes {expected}")
    work = Workspace(layout, m, train=True, keep_z=True)
    acts, zs = layout.blocks(work.acts[0], m), layout.blocks(work.zs[0], m)
    acts[0][:] = X * scale_for(X, layout.dtype) if X.dtype == np.uint8 else X
    for layer in range(1, len(acts)):
        acts[layer][:] = fwd.A[layer - 1]
        zs[layer][:] = fwd.Z[layer - 1]
    work.labels[: Y.size] = Y
    net, data = layout.net(layout.flatten(network)), kernel_data(X, Y, None, layout.dtype)
    launch(work, _k.BACKWARD, code, net, no_optimizer(layout, NO_UPDATE, l2), data)
    return Network(layout.unflatten(work.grads))


def _targets(Y: Any, m: int, n_out: int, output: str) -> np.ndarray:
    """(m,) int64 labels, or (logistic output) the (m, n_out) indicator flattened."""
    return check_indicator(Y, m, n_out) if output == "logistic" else check_labels(Y, m, n_out)


class NetworkRunner:
    """Validated data, bound once; ``run`` trains one epoch in one njit call per thread.

    ``run`` is the epoch function :func:`train_network` hands to ``fit``. The workspace is allocated
    for the largest batch size seen.
    """

    def __init__(
        self,
        network: Network,
        X: Any,
        Y: Any,
        *,
        activation: str = "relu",
        optimizer: OptimizerConfig | None = None,
        l2: float = 0.0,
        output: str = "softmax",
    ) -> None:
        network = check_network(network)
        self.code = check_activation(activation, output)
        self.X = check_X(X, network.n_in, network.dtype)
        self.Y = _targets(Y, self.X.shape[0], network.n_out, output)
        self.optimizer = OptimizerConfig() if optimizer is None else optimizer
        if not isinstance(self.optimizer, OptimizerConfig):
            raise TypeError(f"optimizer must be an OptimizerConfig, got {type(optimizer)}")
        self.l2 = check_l2(l2)
        self.layout = Layout(network.sizes, network.dtype)
        self.work: Workspace | None = None

    def run(
        self,
        network: Network,
        order: np.ndarray,
        batch_size: int,
        learning_rate: float,
        state: OptimizerState,
    ) -> tuple[Network, float, int]:
        """One epoch: returns (new network, loss sum, correct) and advances ``state`` in place.

        The epoch runs over consecutive ``batch_size`` slices of ``order`` (row indices).
        """
        layout = self.layout
        shapes = tuple(np.shape(a) for a in network)
        if shapes != layout.shapes or network[0].dtype != layout.dtype:
            raise ValueError(
                f"network must keep the shapes {layout.shapes} and dtype "
                f"{layout.dtype} this runner was built for, got {shapes}"
            )
        order, batch_size = check_order(order, self.X.shape[0], batch_size)
        learning_rate = check_positive_float(learning_rate, "learning_rate")
        check_state(state, network)
        rows = min(batch_size, order.shape[0])
        if self.work is None or self.work.rows < rows:
            self.work = Workspace(layout, rows, train=True)
        opt, work = self.optimizer, self.work
        params = layout.flatten(network).copy()
        first, second = layout.flatten(state.first).copy(), layout.flatten(state.second).copy()
        stats = work.scratch.stats
        stats[:] = 0
        optimizer_args = optimizer(first, second, learning_rate, opt, state.t, self.l2)
        data = kernel_data(self.X, self.Y, order, layout.dtype)
        state.t = launch(
            work, _k.TRAIN, self.code, layout.net(params), optimizer_args, data, batch_size
        )
        for buffers, flat in ((state.first, first), (state.second, second)):
            for target, value in zip(buffers, layout.unflatten(flat), strict=True):
                target[...] = value
        return Network(layout.unflatten(params)), float(stats[:, 0].sum()), int(stats[:, 1].sum())


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
    output: str = "softmax",
) -> tuple[Network, float, int]:
    """Numba twin of ``reference.network.network_epoch``: (new network, loss sum, correct).

    One epoch over consecutive ``batch_size`` slices of ``order``. X: (m, n_in) uint8 or float. Each
    batch's loss and correct count are measured before its update. The input network is untouched,
    ``state`` is advanced in place.
    """
    network = check_network(network)
    runner = NetworkRunner(
        network, X, Y, activation=activation, optimizer=optimizer, l2=l2, output=output
    )
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
    dtype: np.typing.DTypeLike | None = None,
    X_dev: np.ndarray | None = None,
    Y_dev: np.ndarray | None = None,
    callback: Callback | None = None,
    state: OptimizerState | None = None,
) -> tuple[Network, History]:
    """Train an MLP on the Numba kernels with :func:`~mnistbench.reference.training.fit`.

    ``sizes_or_network``: layer sizes ``(n_in, h1, ..., n_out)`` (initialised by
    ``init_network(sizes, activation=..., seed=seed, dtype=dtype or float32)``) or a Network to
    start from (converted to ``dtype`` if given). ``batch_size=None`` trains full batch.
    ``optimizer`` defaults to Adam. Returns (trained network, history).

    Parameters
    ----------
    X : numpy.ndarray
        (m, n_in) uint8 pixels or floats in [0, 1].
    Y : numpy.ndarray
        (m,) integer labels in ``0..n_out - 1``.
    sizes_or_network : sequence of int or Network
        The layer sizes to initialise, or the network to train on from.
    activation, optimizer, batch_size, epochs, learning_rate, lr_schedule, l2, seed, dtype
        The training recipe, as in :class:`~mnistbench.reference.training.TrainConfig`.
    X_dev, Y_dev : numpy.ndarray, optional
        A dev set whose accuracy is logged in the history.
    callback : callable, optional
        Called after each logged epoch (see :func:`~mnistbench.reference.training.fit`).
    state : OptimizerState, optional
        An optimizer state to continue from.

    Returns
    -------
    network : Network
        The trained weights.
    history : History
        Loss and accuracies per epoch.

    Examples
    --------
    >>> from mnistbench.reference.data import load_embedded, train_dev_split
    >>> data = load_embedded()
    >>> X, y, X_dev, y_dev = train_dev_split(data.X, data.y)
    >>> net, history = train_network(X, y, (784, 64, 10), epochs=3, X_dev=X_dev, Y_dev=y_dev)
    >>> len(history), bool(history.dev_accuracy[-1] > 0.8)
    (3, True)
    """
    check_activation(activation)
    optimizer = optimizer or OptimizerConfig("adam")
    if (
        isinstance(sizes_or_network, tuple)
        and sizes_or_network
        and isinstance(sizes_or_network[0], np.ndarray)
    ):
        network = check_network(sizes_or_network)
        network = network if dtype is None else network.astype(dtype)
    else:
        dtype = np.float32 if dtype is None else dtype
        network = init_network(sizes_or_network, activation=activation, seed=seed, dtype=dtype)
    config = TrainConfig(
        hidden=int(network.sizes[1]),
        batch_size=batch_size,
        epochs=epochs,
        optimizer=optimizer.name,
        learning_rate=learning_rate,
        lr_schedule=lr_schedule,
        l2=l2,
        seed=seed,
        dtype=network.dtype.name,
    )
    runner = NetworkRunner(network, X, Y, activation=activation, optimizer=optimizer, l2=l2)
    if X_dev is not None and Y_dev is not None:
        X_dev = check_X(X_dev, network.n_in, network.dtype, "X_dev")
        Y_dev = check_labels(Y_dev, X_dev.shape[0], network.n_out, "Y_dev", "X_dev")
    if state is None:
        state = init_state(network)
    check_state(state, network)
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
