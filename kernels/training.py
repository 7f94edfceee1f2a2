"""Training drivers on the Numba kernels: mini-batch epochs, full-batch gradient descent, ``train``.

They mirror ``mnistbench.reference.training`` argument for argument and reuse its loop
(:func:`~mnistbench.reference.training.fit`), so histories of the two engines can be compared entry
by entry. Inputs are validated once per run; the epochs themselves are single njit calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mnistbench.reference.model import N_PIXELS, History, Params, init_params
from mnistbench.reference.optim import OptimizerConfig, OptimizerState, init_state
from mnistbench.reference.training import (
    Callback,
    TrainConfig,
    epoch_order,
    fit,
    gradient_descent_config,
)

from . import _jit_seed, parallel
from .checks import (
    check_batch_size,
    check_labels,
    check_params,
    check_positive_float,
    check_state,
    check_X,
    scale_for,
)
from .model import Workspace, make_predictions


class EpochRunner:
    """Validated data bound to a workspace; ``run`` does one epoch in place in one njit call."""

    def __init__(
        self,
        params: Params,
        X: Any,
        Y: Any,
        optimizer: OptimizerConfig | None = None,
        l2: float = 0.0,
    ) -> None:
        params = check_params(params)
        X = check_X(X, params.n_in, params.dtype)
        self._bind(params, X, check_labels(Y, X.shape[0], params.W2.shape[0]), optimizer, l2)

    @classmethod
    def from_checked(
        cls, params: Params, X: np.ndarray, Y: np.ndarray, optimizer: OptimizerConfig, l2: float
    ) -> EpochRunner:
        """A runner on arrays the caller has already checked; nothing is checked again.

        For a caller that validated its inputs at its own public boundary (the estimator does)
        and binds runners often (one per augmentation or sparse buffer). It trusts, and a
        violation reads or writes out of bounds: ``params`` as :func:`.checks.check_params`
        returns them (finite, C-contiguous float32/float64); X C-contiguous, uint8 or in the
        params' dtype, with ``params.n_in`` columns; Y C-contiguous int64 labels in
        ``0..n_out-1``, one per row of X; ``optimizer`` an ``OptimizerConfig``; ``l2`` >= 0.
        Anything else: use the validating constructor ``EpochRunner(params, X, Y, ...)``.
        """
        runner = cls.__new__(cls)
        runner._bind(params, X, Y, optimizer, l2)
        return runner

    def _bind(
        self,
        params: Params,
        X: np.ndarray,
        Y: np.ndarray,
        optimizer: OptimizerConfig | None,
        l2: float,
    ) -> None:
        self.X, self.Y = X, Y
        self.dtype = params.dtype
        self.scale = scale_for(self.X, params.dtype)
        self.optimizer = optimizer or OptimizerConfig()
        self.l2 = float(l2)
        self.work = Workspace(params)
        self.shapes = tuple(p.shape for p in params)

    def run(
        self,
        params: Params,
        order: np.ndarray,
        batch_size: int,
        learning_rate: float,
        state: OptimizerState,
    ) -> tuple[Params, float, int]:
        """Updates ``params`` and ``state`` in place; returns (params, loss sum, correct).

        Batches too small to split across threads run as one serial njit call for the whole
        epoch; bigger ones (full batch, for instance) run each batch on all threads.
        """
        if tuple(p.shape for p in params) != self.shapes or params.dtype != self.dtype:
            # The kernels index params and accumulators alike: a mismatch would be out of bounds.
            raise ValueError(
                f"params must keep the shapes {self.shapes} and dtype {self.dtype} this runner was "
                f"built for, got {tuple(p.shape for p in params)} {params.dtype}"
            )
        opt = self.optimizer
        hyper = (learning_rate, opt.code, opt.momentum, opt.beta1, opt.beta2, opt.eps)
        states = (Params(*state.first), Params(*state.second))
        acc, grads = self.work.acc, self.work.grads
        m = order.shape[0]
        if parallel.chunk_count(min(batch_size, m), params.hidden, acc.W1.shape[0]) == 1:
            loss_sum, correct, state.t = _jit_seed.train_epoch(
                *params,
                self.X,
                self.Y,
                order,
                batch_size,
                self.scale,
                self.l2,
                *hyper,
                state.t,
                *states,
                *acc,
                *grads,
            )
            return params, loss_sum, correct
        loss_sum, correct = 0.0, 0
        for start in range(0, m, batch_size):
            rows = order[start : start + batch_size]
            n_chunks = parallel.chunk_count(rows.shape[0], params.hidden, acc.W1.shape[0])
            batch_loss, batch_correct = parallel.accumulate(
                params, self.X, self.Y, rows, self.scale, acc, n_chunks
            )
            loss_sum += batch_loss
            correct += batch_correct
            state.t = _jit_seed.finish_batch(
                *params, rows.shape[0], n_chunks, self.l2, *hyper, state.t, *states, *acc, *grads
            )
        return params, loss_sum, correct


def minibatch_epoch(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    learning_rate: float,
    state: OptimizerState | None = None,
    config: OptimizerConfig | None = None,
    l2: float = 0.0,
) -> tuple[Params, float, int]:
    """Numba twin of ``reference.train.minibatch_epoch``; returns new params, input untouched.

    ``order`` must be a permutation of 0..m-1 (checked: an index out of range would be read
    out of bounds). ``state`` (optimizer buffers) is advanced in place when given.
    """
    runner = EpochRunner(params, X, Y, config, l2)
    m = runner.X.shape[0]
    order = np.asarray(order)
    if order.dtype.kind not in "ui" or order.shape != (m,):
        raise ValueError(f"order must be a permutation of 0..{m - 1} with {m} integers")
    order = np.ascontiguousarray(order, dtype=np.int64)
    if not np.array_equal(np.sort(order), np.arange(m)):
        raise ValueError(f"order must be a permutation of 0..{m - 1}")
    batch_size = check_batch_size(batch_size, m)
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    params = check_params(params).copy()
    if state is None:
        state = init_state(params)
    check_state(state, params)
    return runner.run(params, order, batch_size, learning_rate, state)


def train(
    X: np.ndarray,
    Y: np.ndarray,
    config: TrainConfig | None = None,
    *,
    optimizer: OptimizerConfig | None = None,
    params: Params | None = None,
    X_dev: np.ndarray | None = None,
    Y_dev: np.ndarray | None = None,
    callback: Callback | None = None,
    state: OptimizerState | None = None,
) -> tuple[Params, History]:
    """Train on the Numba kernels. X: (m, n_in) uint8 pixels or floats in [0, 1]; Y: (m,) ints.

    Same arguments, same batches, same history as ``mnistbench.reference.training.train``.
    """
    config = config or TrainConfig()
    optimizer = optimizer or OptimizerConfig(config.optimizer)
    dtype = np.dtype(config.dtype)
    if params is None:
        n_in = np.shape(X)[1] if np.ndim(X) == 2 else N_PIXELS
        params = init_params(config.hidden, n_in, seed=config.seed, dtype=dtype)
    params = check_params(params).astype(dtype).copy()
    runner = EpochRunner(params, X, Y, optimizer, config.l2)
    m = runner.X.shape[0]
    if state is not None:
        check_state(state, params)
    if config.batch_size is not None:
        check_batch_size(config.batch_size, m)
    if X_dev is not None and Y_dev is not None:
        X_dev = check_X(X_dev, params.n_in, dtype, "X_dev")
        Y_dev = check_labels(Y_dev, X_dev.shape[0], params.W2.shape[0], "Y_dev", "X_dev")
    return fit(
        runner.run,
        lambda p, Xd: make_predictions(Xd, p),
        m,
        params,
        config,
        optimizer,
        X_dev=X_dev,
        Y_dev=Y_dev,
        state=state,
        callback=callback,
    )


def gradient_descent(
    X: np.ndarray,
    Y: np.ndarray,
    alpha: float = 0.10,
    iterations: int = 500,
    *,
    hidden: int = 10,
    seed: int = 0,
    params: Params | None = None,
    X_dev: np.ndarray | None = None,
    Y_dev: np.ndarray | None = None,
    log_interval: int = 10,
    callback: Callback | None = None,
    dtype: np.typing.DTypeLike | None = None,
) -> tuple[Params, History]:
    """The seed's full-batch gradient descent, each iteration one fused parallel kernel call.

    Parameters
    ----------
    X : numpy.ndarray
        (m, 784) uint8 pixels or floats in [0, 1].
    Y : numpy.ndarray
        (m,) integer labels 0..9.
    alpha : float
        The learning rate (the seed's 0.10).
    iterations : int
        Full-batch steps (the seed's 500).
    hidden, seed, params, dtype
        The network: ``hidden`` units initialised with ``seed`` as the seed does, or ``params``
        to start from; float64 unless ``dtype`` says otherwise.
    X_dev, Y_dev : numpy.ndarray, optional
        A dev set whose accuracy is logged.
    log_interval : int
        Log every ``log_interval`` iterations.
    callback : callable, optional
        Called at each logged step.

    Returns
    -------
    params : Params
        The trained weights.
    history : History
        Loss and accuracies at each logged step.

    Examples
    --------
    >>> from mnistbench.reference.data import load_embedded, train_dev_split
    >>> data = load_embedded()
    >>> X, y, X_dev, y_dev = train_dev_split(data.X, data.y)
    >>> params, history = gradient_descent(X, y, 0.10, 50, X_dev=X_dev, Y_dev=y_dev)
    >>> history.step[-1], bool(history.loss[-1] < history.loss[0])  # steps count from 0
    (49, True)
    """
    config = gradient_descent_config(X, alpha, iterations, hidden, seed, log_interval, dtype)
    return train(X, Y, config, params=params, X_dev=X_dev, Y_dev=Y_dev, callback=callback)


__all__ = ["EpochRunner", "epoch_order", "gradient_descent", "minibatch_epoch", "train"]
