"""How :class:`~mnistbench.estimator.MLPClassifier` trains: scikit-learn's rules on our loop.

The stochastic solvers (sgd, adam) run the shared loop
(:func:`mnistbench.reference.training.fit`) with two hooks: a learning rate per epoch
(scikit-learn's ``invscaling``/``adaptive`` on top of our ``lr_schedule``) and
:meth:`Progress.after_epoch`, scikit-learn's stopping rule (``tol``, ``n_iter_no_change``,
``early_stopping``). :class:`Progress` is everything that carries over from one call to the
next, so ``partial_fit`` is one more call of the same loop. ``lbfgs`` is SciPy's L-BFGS-B on
the engine's full-batch gradient. Arrays here are already checked by the estimator.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from mnistbench.reference.augment import AugmentConfig
from mnistbench.reference.model import History, Params
from mnistbench.reference.optim import OptimizerConfig, OptimizerState
from mnistbench.reference.optim import learning_rate_at as schedule_at
from mnistbench.reference.training import Callback, TrainConfig, fit

from ._augmenting import AugmentingEpoch, augment_config, check_images
from ._inputs import architecture, batch_size_for, cross_entropy, penalty, weights_dtype
from ._lbfgs import lbfgs
from ._regularizing import (
    Regularization,
    regularization_for,
    state_for,
)
from ._sparse import SparseEpoch, is_sparse
from ._sparse import predict_proba as proba_of
from ._weights import regularization
from .engines import ENGINES, Engine

__all__ = [
    "Plan",
    "Progress",
    "lbfgs",
    "plan_for",
    "start",
    "stochastic",
    "train",
]

# scikit-learn's adaptive rate stops dividing by 5 once the rate is this small.
MIN_ADAPTIVE_LEARNING_RATE = 1e-6


@dataclass(frozen=True)
class Plan:
    """The estimator's parameters resolved against the data: what one training call runs."""

    engine: Engine
    config: TrainConfig  # epochs = max_iter; l2 = alpha / batch size (scikit-learn's alpha)
    optimizer: OptimizerConfig
    learning_rate: str  # scikit-learn's: constant, invscaling, adaptive (sgd only)
    power_t: float
    tol: float
    n_iter_no_change: float
    shuffle: bool
    verbose: bool
    augment: AugmentConfig | None = None  # on-the-fly augmentation of each training batch
    regularization: Regularization | None = None  # dropout, L1, batch norm


@dataclass
class Progress:
    """Optimizer state, shuffling and scikit-learn's stopping bookkeeping across calls."""

    state: OptimizerState
    rng: np.random.Generator
    initial_loss: float
    epochs_done: int = 0
    samples_seen: int = 0  # scikit-learn's t_
    loss_curve: list[float] = field(default_factory=list)
    best_loss: float = math.inf
    validation_scores: list[float] | None = None
    best_validation_score: float | None = None
    best_params: Params | None = None
    no_improvement: int = 0
    rate_factor: float = 1.0  # adaptive: divided by 5 at every plateau
    converged: bool = False
    rate_samples: int = 0  # t_ when invscaling last updated the rate (a fresh optimizer: 0)

    def learning_rate(self, plan: Plan, epoch: int) -> float:
        """Our schedule at ``epoch``, times scikit-learn's sgd ``learning_rate`` rule."""
        config = plan.config
        rate = schedule_at(
            epoch % config.epochs, config.learning_rate, config.lr_schedule, config.epochs
        )
        if plan.learning_rate == "invscaling":
            return rate / (self.rate_samples + 1) ** plan.power_t
        return rate * self.rate_factor

    def after_epoch(
        self, plan: Plan, m: int, mean_loss: float, params: Params, validation: Any
    ) -> bool:
        """Record the epoch; True when scikit-learn would stop (``validation``: a callable
        giving the held-out accuracy of ``params``, or None without early stopping)."""
        self.epochs_done += 1
        self.samples_seen += m
        self.rate_samples = self.samples_seen
        l1 = 0.0 if plan.regularization is None else plan.regularization.l1
        loss = mean_loss + penalty(params, plan.config.l2, l1)
        self.loss_curve.append(loss)
        if plan.verbose:
            print(f"Iteration {self.epochs_done}, loss = {loss:.8f}")
        if validation is not None:
            score = validation(params)
            self.validation_scores.append(score)
            if plan.verbose:
                print(f"Validation score: {score:f}")
            self._count(score < self.best_validation_score + plan.tol)
            if score > self.best_validation_score:
                self.best_validation_score = score
                self.best_params = params.copy()
        else:
            self._count(loss > self.best_loss - plan.tol)
            self.best_loss = min(self.best_loss, loss)
        if self.no_improvement <= plan.n_iter_no_change:
            return False
        rate = plan.config.learning_rate * self.rate_factor
        if plan.learning_rate == "adaptive" and rate > MIN_ADAPTIVE_LEARNING_RATE:
            self.rate_factor /= 5
            self.no_improvement = 0
            return False
        self.converged = True
        return True

    def warm_start(self, previous: Progress, fitted: Params) -> None:
        """Continue ``previous`` as scikit-learn's warm start does: this progress's optimizer
        is fresh (momentum and Adam buffers zero, the adaptive rate back at
        ``learning_rate_init``, and so is invscaling's first epoch), but ``t_``, the loss
        curve, the best loss, the no-improvement count and, with early stopping, the
        validation scores, the best score and its weights (``fitted``) carry over."""
        self.samples_seen = previous.samples_seen
        self.loss_curve = list(previous.loss_curve)
        self.best_loss = previous.best_loss
        self.no_improvement = previous.no_improvement
        if self.validation_scores is not None and previous.validation_scores is not None:
            self.validation_scores = list(previous.validation_scores)
            self.best_validation_score = previous.best_validation_score
            self.best_params = fitted.copy()

    def _count(self, no_improvement: bool) -> None:
        self.no_improvement = self.no_improvement + 1 if no_improvement else 0


def check_settings(est: Any) -> None:
    """Every check ``fit`` makes of the settings alone, before it looks at the data: the
    architecture on its engine, dropout/l1/batch norm, augmentation and the solver it needs.
    Raises ValueError (or TypeError) naming the value; ``mnistbench sweep`` runs it on every
    grid point before the first trial."""
    architecture(est.hidden_layer_sizes, est.activation, est.engine)
    regularization(est, 0)
    if augment_config(est) is not None and est.solver == "lbfgs":
        raise ValueError("augment needs a stochastic solver (sgd or adam), got lbfgs")


def train(
    est: Any,
    params: Params,
    X: np.ndarray,
    codes: np.ndarray,
    seed: int,
    dev: tuple[np.ndarray, np.ndarray] | None,
    previous: Progress | None,
    classes: np.ndarray,
) -> tuple[Params, History, Progress]:
    """``fit``'s training on either solver; ``previous``: the progress a warm start extends
    (:meth:`Progress.warm_start`: scikit-learn's training state, with a fresh optimizer)."""
    _, activation = architecture(est.hidden_layer_sizes, est.activation, est.engine)
    engine = ENGINES[est.engine].bind(activation)
    check_settings(est)  # refused here, before anything runs
    reg = regularization(est, seed)
    if augment_config(est) is not None:
        if is_sparse(X):
            raise ValueError("augment transforms dense 28x28 images; X is sparse (toarray() it)")
        check_images(X)
    if est.solver == "lbfgs":
        params, history, n_iter, loss = lbfgs(
            engine,
            params,
            X,
            codes,
            l2=est.alpha / X.shape[0],
            max_iter=est.max_iter,
            max_fun=est.max_fun,
            tol=est.tol,
            verbose=est.verbose,
            l1=0.0 if reg is None else reg.l1,
        )
        progress = Progress(None, None, loss, n_iter, 0, list(history.loss))
        progress.best_loss = min(history.loss, default=loss)
        return params, history, progress
    validation = None
    if est.early_stopping:
        X, codes, validation = split(X, codes, seed, est.validation_fraction, classes)
    initial_loss = cross_entropy(proba_of(engine, params, X), codes)
    progress = start(params, initial_loss, seed, est.early_stopping)
    if previous is not None:
        progress.warm_start(previous, params)
    params, history = stochastic(
        plan_for(est, X.shape[0], seed),
        progress,
        params,
        X,
        codes,
        epochs=est.max_iter,
        dev=dev,
        validation=validation,
        callback=est.callback,
    )
    warn_if_not_converged(progress, est.max_iter, progress.epochs_done)
    return params, history, progress


def plan_for(est: Any, n_samples: int, seed: int) -> Plan:
    """The estimator's parameters for ``n_samples`` training rows as a :class:`Plan`."""
    batch_size = batch_size_for(est.batch_size, n_samples)
    if est.solver == "adam":
        optimizer = OptimizerConfig("adam", beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon)
    elif est.momentum == 0:
        optimizer = OptimizerConfig("sgd")
    else:
        optimizer = OptimizerConfig(
            "momentum", momentum=est.momentum, nesterov=est.nesterovs_momentum
        )
    hidden, activation = architecture(est.hidden_layer_sizes, est.activation, est.engine)
    config = TrainConfig(
        hidden=hidden[0],
        batch_size=batch_size,
        epochs=int(est.max_iter),
        optimizer=optimizer.name,
        learning_rate=float(est.learning_rate_init),
        lr_schedule=est.lr_schedule,
        l2=est.alpha / batch_size,
        seed=seed,
        dtype=weights_dtype(est).name,
        log_interval=int(est.log_interval),
    )
    return Plan(
        ENGINES[est.engine].bind(activation),
        config,
        optimizer,
        est.learning_rate if est.solver == "sgd" else "constant",
        est.power_t,
        est.tol,
        est.n_iter_no_change,
        est.shuffle,
        bool(est.verbose),
        augment_config(est),
        regularization_for(est, len(hidden), seed),
    )


def split(X: np.ndarray, codes: np.ndarray, seed: int, fraction: float, classes: np.ndarray):
    """scikit-learn's early-stopping split: (X_fit, codes_fit, (X_val, codes_val)), stratified
    by the labels themselves (``classes[codes]``: the same split as by codes, and an error
    naming a class too small to split names the user's label)."""
    X_fit, X_val, y_fit, y_val = train_test_split(
        X, codes, random_state=seed, test_size=fraction, stratify=classes[codes]
    )
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    X_fit = X_fit if is_sparse(X_fit) else np.ascontiguousarray(X_fit)
    return X_fit, np.ascontiguousarray(y_fit), (X_val, y_val)


def start(params: Params, initial_loss: float, seed: int, early_stopping: bool) -> Progress:
    """Fresh progress for a run starting at ``params``."""
    progress = Progress(state_for(params), np.random.default_rng(seed), initial_loss)
    if early_stopping:
        progress.validation_scores, progress.best_validation_score = [], -math.inf
    return progress


def stochastic(
    plan: Plan,
    progress: Progress,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callback: Callback | None = None,
) -> tuple[Params, History]:
    """``epochs`` more epochs of sgd/adam from ``progress`` (advanced in place).

    ``dev``: (X, y) whose accuracy is logged in the history; ``validation``: scikit-learn's
    early-stopping split, whose best weights are returned in place of the last ones.
    """
    engine, m, reg = plan.engine, X.shape[0], plan.regularization
    if is_sparse(X):
        epoch_fn = SparseEpoch(engine, X, y, plan.optimizer, plan.config.l2, reg)
    elif plan.augment is None:
        extra = () if reg is None else (reg,)
        epoch_fn = engine.epoch_fn(params, X, y, plan.optimizer, plan.config.l2, *extra)
    else:
        check_images(X)
        epoch_fn = AugmentingEpoch(
            engine,
            X,
            y,
            plan.optimizer,
            plan.config.l2,
            plan.augment,
            plan.config.seed,
            lambda: progress.epochs_done,
            reg,
        )
    if not plan.shuffle:
        natural = np.arange(m, dtype=np.int64)
        shuffled_fn = epoch_fn

        def epoch_fn(params, order, batch_size, learning_rate, state):
            return shuffled_fn(params, natural, batch_size, learning_rate, state)

    def predict(p: Params, X_other: np.ndarray) -> np.ndarray:
        return np.argmax(proba_of(engine, p, X_other), axis=1)

    score = None
    if validation is not None:
        X_val, y_val = validation

        def score(p: Params) -> float:
            return float(np.mean(predict(p, X_val) == y_val))

    params, history = fit(
        epoch_fn,
        predict,
        m,
        params,
        plan.config,
        plan.optimizer,
        X_dev=None if dev is None else dev[0],
        Y_dev=None if dev is None else dev[1],
        state=progress.state,
        callback=callback,
        initial_loss=progress.initial_loss,
        rng=progress.rng,
        start_epoch=progress.epochs_done,
        epochs=epochs,
        learning_rate=lambda epoch: progress.learning_rate(plan, epoch),
        stop=lambda epoch, loss, p: progress.after_epoch(plan, m, loss, p, score),
    )
    if progress.best_params is not None:  # early stopping: the best validation weights
        params, progress.best_params = progress.best_params, None
    return params, history


def warn_if_not_converged(progress: Progress, max_iter: int, epochs_run: int) -> None:
    if not progress.converged and epochs_run >= max_iter:
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=4,
        )


def continued(history: History, more: History, seconds: float) -> History:
    """``history`` with the rows of ``more`` appended, their seconds offset by ``seconds``."""
    for step, loss, train, dev, elapsed in zip(
        more.step, more.loss, more.train_accuracy, more.dev_accuracy, more.seconds, strict=True
    ):
        history.append(step, loss, train, dev, elapsed + seconds)
    return history
