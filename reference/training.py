"""Mini-batch training in NumPy, and the training loop both engines share.

``minibatch_epoch`` is the reference twin of the Numba epoch kernel: the same batches in the same
order (slices of one permutation), the same loss and accuracy bookkeeping, the same optimizer
rules. ``fit`` runs epochs with learning-rate schedules, logging and divergence detection; the
Numba side passes its own epoch and predict functions into it, so the loop exists once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .model import History, Params, backward_prop, forward_prop, get_predictions, init_params, loss
from .optim import (
    OPTIMIZERS,
    SCHEDULES,
    ArraysT,
    OptimizerConfig,
    OptimizerState,
    init_state,
    learning_rate_at,
    optimizer_step,
)

# An epoch loss above this multiple of the loss before training (or of chance level, ln of the
# number of classes, if larger) counts as divergence, as a non-finite one does. The loss uses
# log-sum-exp and ReLUs die rather than overflow, so a far too large learning rate (0.1 -> 100)
# leaves the loss finite but stuck at 10-20x its starting value instead of reaching NaN.
DIVERGENCE_FACTOR = 10.0


class TrainingDiverged(FloatingPointError):
    """The loss became NaN/Inf or exploded; carries the history logged so far."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def check_divergence(
    loss: float,
    baseline: float,
    epoch: int,
    learning_rate: float,
    history: History,
    n_classes: int = 10,
) -> None:
    """Raise :class:`TrainingDiverged` if ``loss`` is not finite or has grown too far.

    Too far: more than :data:`DIVERGENCE_FACTOR` times ``baseline`` (the loss before training; at
    least chance).
    """
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"training diverged: loss is {loss} at epoch {epoch} with learning rate "
            f"{learning_rate:g}; try a smaller learning rate",
            history,
        )
    limit = DIVERGENCE_FACTOR * max(baseline, math.log(n_classes))
    if loss > limit:
        raise TrainingDiverged(
            f"training diverged: loss {loss:.4g} at epoch {epoch} is more than "
            f"{DIVERGENCE_FACTOR:g}x its value before training ({baseline:.4g}) with "
            f"learning rate {learning_rate:g}; try a smaller learning rate",
            history,
        )


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (both engines take the same one)."""

    hidden: int = 10
    batch_size: int | None = None  # None: full batch, the seed's gradient descent
    epochs: int = 500  # passes over the data; with full batch, iterations
    optimizer: str = "sgd"
    learning_rate: float = 0.10
    lr_schedule: str = "constant"
    l2: float = 0.0
    seed: int = 0
    dtype: str = "float64"
    log_interval: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 1:
            raise ValueError(f"hidden must be a positive integer, got {self.hidden!r}")
        if self.batch_size is not None and (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or self.batch_size < 1
        ):
            raise ValueError(
                f"batch_size must be a positive integer or None, got {self.batch_size!r}"
            )
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if not _is_real(self.learning_rate) or not (
            math.isfinite(self.learning_rate) and self.learning_rate > 0
        ):
            raise ValueError(f"learning_rate must be finite and > 0, got {self.learning_rate!r}")
        if not _is_real(self.l2) or not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2 must be finite and >= 0, got {self.l2!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        for name in ("log_interval", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        if self.log_interval < 1:
            raise ValueError(f"log_interval must be >= 1, got {self.log_interval!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed!r}")


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def as_float(X: np.ndarray, dtype: np.typing.DTypeLike) -> np.ndarray:
    """uint8 pixels -> X / 255 in ``dtype``; float X -> X in ``dtype`` (the reference's input)."""
    if X.dtype == np.uint8:
        return np.ascontiguousarray(X, dtype=dtype) / np.asarray(255, dtype=dtype)
    return np.ascontiguousarray(X, dtype=dtype)


def epoch_order(rng: np.random.Generator, m: int, batch_size: int | None) -> np.ndarray:
    """Sample order of one epoch: a fresh permutation, or 0..m-1 for full-batch training."""
    if batch_size is None or batch_size >= m:
        return np.arange(m, dtype=np.int64)
    return rng.permutation(m).astype(np.int64)


def minibatch_epoch(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    learning_rate: float,
    state: OptimizerState,
    config: OptimizerConfig,
    l2: float = 0.0,
) -> tuple[Params, float, int]:
    """One epoch over consecutive ``batch_size`` slices of ``order`` (the last may be smaller).

    X: (m, n_in) float in the params' dtype. Each batch's loss and correct count are measured
    before its update. Returns (new params, loss summed over samples, correct predictions).
    """
    loss_sum = 0.0
    correct = 0
    # Full batch in natural order (the seed's gradient descent): no need to copy X each step.
    whole = batch_size >= order.size == X.shape[0] and np.array_equal(order, np.arange(order.size))
    for start in range(0, order.size, batch_size):
        rows = order[start : start + batch_size]
        Xb, Yb = (X, Y) if whole else (X[rows], Y[rows])
        acts = forward_prop(params, Xb)
        loss_sum += loss(acts.Z2, Yb) * rows.size
        correct += int(np.sum(get_predictions(acts.A2) == Yb))
        grads = backward_prop(params, acts, Xb, Yb, l2)
        params = optimizer_step(params, grads, state, learning_rate, config)
    return params, loss_sum, correct


# Generic in the weights (Params, Network, or a network with its batch-norm arrays).
EpochFn = Callable[[ArraysT, np.ndarray, int, float, OptimizerState], tuple[ArraysT, float, int]]
PredictFn = Callable[[ArraysT, np.ndarray], np.ndarray]
Callback = Callable[[int, float, float, float], None]
LearningRateFn = Callable[[int], float]
StopFn = Callable[[int, float, ArraysT], bool]


def fit(
    epoch_fn: EpochFn[ArraysT],
    predict_fn: PredictFn[ArraysT],
    m: int,
    params: ArraysT,
    config: TrainConfig,
    optimizer: OptimizerConfig,
    *,
    X_dev: np.ndarray | None = None,
    Y_dev: np.ndarray | None = None,
    state: OptimizerState | None = None,
    callback: Callback | None = None,
    initial_loss: float | None = None,
    rng: np.random.Generator | None = None,
    start_epoch: int = 0,
    epochs: int | None = None,
    learning_rate: LearningRateFn | None = None,
    stop: StopFn[ArraysT] | None = None,
) -> tuple[ArraysT, History]:
    """The training loop shared by both engines.

    ``epoch_fn(params, order, batch_size, learning_rate, state)`` runs one epoch on data it has
    bound; ``predict_fn(params, X_dev)`` gives labels. Logs (epoch, mean loss, running train
    accuracy, dev accuracy after the epoch, seconds) every ``log_interval`` epochs and after the
    last one. Raises :class:`TrainingDiverged` (see :func:`check_divergence`) as soon as an
    epoch's loss diverges from ``initial_loss`` (default: the first epoch's loss).

    To continue a run (``partial_fit``): ``rng`` draws the epoch orders (default
    ``default_rng(config.seed)``) and is advanced in place, so a caller that keeps it (and
    ``state``) continues the shuffling where the last call stopped; ``start_epoch`` numbers the
    first epoch (history steps; the schedule is read at ``epoch % config.epochs``); ``epochs``
    is how many to run (default ``config.epochs``). ``learning_rate(epoch)`` replaces the
    config's schedule; ``stop(epoch, mean_loss, params)`` is called after every epoch and
    returning True ends training after that epoch (which is logged).
    """
    rng = np.random.default_rng(config.seed) if rng is None else rng
    state = init_state(params) if state is None else state
    batch_size = m if config.batch_size is None else min(config.batch_size, m)
    history = History()
    started = time.perf_counter()
    last = start_epoch + (config.epochs if epochs is None else epochs) - 1
    for epoch in range(start_epoch, last + 1):
        if learning_rate is None:
            lr = learning_rate_at(
                epoch % config.epochs, config.learning_rate, config.lr_schedule, config.epochs
            )
        else:
            lr = learning_rate(epoch)
        order = epoch_order(rng, m, config.batch_size)
        new_params, loss_sum, correct = epoch_fn(params, order, batch_size, lr, state)
        mean_loss = loss_sum / m
        if initial_loss is None:
            initial_loss = mean_loss
        check_divergence(mean_loss, initial_loss, epoch, lr, history)
        params = new_params
        stopping = stop is not None and stop(epoch, mean_loss, params)
        if epoch % config.log_interval == 0 or epoch == last or stopping:
            dev_accuracy = float("nan")
            if X_dev is not None and Y_dev is not None and len(Y_dev):
                dev_accuracy = float(np.mean(predict_fn(params, X_dev) == Y_dev))
            history.append(
                epoch, mean_loss, correct / m, dev_accuracy, time.perf_counter() - started
            )
            if callback is not None:
                callback(epoch, mean_loss, correct / m, dev_accuracy)
        if stopping:
            break
    return params, history


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
    """Reference training run. X: (m, n_in) uint8 pixels or floats in [0, 1]; Y: (m,) ints."""
    config = config or TrainConfig()
    optimizer = optimizer or OptimizerConfig(config.optimizer)
    dtype = np.dtype(config.dtype)
    X = as_float(X, dtype)
    Y = np.asarray(Y, dtype=np.int64)
    if params is None:
        params = init_params(config.hidden, X.shape[1], seed=config.seed, dtype=dtype)
    X_dev = None if X_dev is None else as_float(X_dev, dtype)

    def epoch_fn(params, order, batch_size, lr, state):
        return minibatch_epoch(params, X, Y, order, batch_size, lr, state, optimizer, config.l2)

    def predict_fn(params, X_dev):
        return get_predictions(forward_prop(params, X_dev).A2)

    return fit(
        epoch_fn,
        predict_fn,
        X.shape[0],
        params,
        config,
        optimizer,
        X_dev=X_dev,
        Y_dev=Y_dev,
        state=state,
        callback=callback,
    )


def gradient_descent_config(
    X: np.ndarray,
    alpha: float,
    iterations: int,
    hidden: int,
    seed: int,
    log_interval: int,
    dtype: np.typing.DTypeLike | None,
) -> TrainConfig:
    """The seed's run as a TrainConfig: full batch, plain SGD, constant learning rate."""
    if dtype is None:
        dtype = X.dtype if getattr(X, "dtype", None) == np.float32 else np.float64
    return TrainConfig(
        hidden=hidden,
        epochs=iterations,
        learning_rate=alpha,
        seed=seed,
        log_interval=log_interval,
        dtype=np.dtype(dtype).name,
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
    """The seed's full-batch gradient descent (alpha=0.10, 500 iterations).

    X: (m, n_in) uint8 pixels or floats in [0, 1]; computes in float32 when X is float32,
    else float64, unless ``dtype`` says otherwise. See :func:`fit` for what is logged.
    """
    config = gradient_descent_config(X, alpha, iterations, hidden, seed, log_interval, dtype)
    return train(X, Y, config, params=params, X_dev=X_dev, Y_dev=Y_dev, callback=callback)
