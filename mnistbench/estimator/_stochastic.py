"""How :class:`~mnistbench.estimator.MLPClassifier` trains: scikit-learn's rules on our loop.

The stochastic solvers (sgd, adam) run the shared loop
(:func:`mnistbench.reference.training.fit`) with two hooks: a learning rate per epoch
(scikit-learn's ``invscaling``/``adaptive`` on top of our ``lr_schedule``) and scikit-learn's
stopping rule (:mod:`._progress`). A ``Progress`` is everything that carries over from one call
to the next, so ``partial_fit`` is one more call of the same loop. ``lbfgs`` is SciPy's L-BFGS-B on
the engine's full-batch gradient. Arrays here are already checked by the estimator; the loop
carries a :class:`~mnistbench.estimator._state.ModelState` (weights, batch norm beside them).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from mnistbench.reference.model import History
from mnistbench.reference.network import Network
from mnistbench.reference.optim import OptimizerConfig
from mnistbench.reference.outputs import correct_count, predictions
from mnistbench.reference.training import Callback, EpochFn, TrainConfig, fit

from ._augmenting import AugmentingEpoch, check_images
from ._lbfgs import lbfgs
from ._progress import Plan, Progress
from ._regularizing import state_for
from ._setup import Setup
from ._sparse import SparseEpoch, is_sparse
from ._sparse import predict_proba as proba_of
from ._state import ModelState
from ._validation import batch_size_for, cross_entropy

if TYPE_CHECKING:
    from ._classifier import MLPClassifier
    from .engines import Engine

__all__ = ["baseline_loss", "model_epoch_fn", "plan_for", "start", "stochastic", "train"]


def train(
    est: MLPClassifier,
    setup: Setup,
    model: ModelState,
    X: np.ndarray,
    codes: np.ndarray,
    seed: int,
    dev: tuple[np.ndarray, np.ndarray] | None,
    previous: Progress | None,
    classes: np.ndarray,
) -> tuple[ModelState, History, Progress]:
    """Run ``fit``'s training on either solver.

    ``previous``: the progress a warm start extends (:meth:`Progress.warm_start`:
    scikit-learn's training state, with a fresh optimizer).
    """
    engine, reg = setup.engine, setup.regularization
    if setup.augment is not None:
        if is_sparse(X):
            raise ValueError("augment transforms dense 28x28 images; X is sparse (toarray() it)")
        check_images(X)
    if est.solver == "lbfgs":
        network, history, n_iter, loss = lbfgs(
            engine,
            model.network,
            X,
            codes,
            l2=est.alpha / X.shape[0],
            max_iter=est.max_iter,
            max_fun=est.max_fun,
            tol=est.tol,
            verbose=est.verbose,
            l1=0.0 if reg is None else reg.l1,
        )
        progress = Progress(
            state=None,
            rng=None,
            initial_loss=loss,
            epochs_done=n_iter,
            loss_curve=list(history.loss),
        )
        progress.best_loss = min(history.loss, default=loss)
        return ModelState(network), history, progress
    validation = None
    if est.early_stopping:
        X, codes, validation = split(X, codes, seed, est.validation_fraction, classes)
    progress = start(model, baseline_loss(engine, model, X, codes), seed, est.early_stopping)
    if previous is not None:
        progress.warm_start(previous, model)
    model, history = stochastic(
        plan_for(est, setup, X.shape[0], seed),
        progress,
        model,
        X,
        codes,
        epochs=est.max_iter,
        dev=dev,
        validation=validation,
        callback=est.callback,
        n_classes=len(classes),
    )
    warn_if_not_converged(progress, est.max_iter, progress.epochs_done)
    return model, history, progress


def plan_for(est: MLPClassifier, setup: Setup, n_samples: int, seed: int) -> Plan:
    """Return the estimator's parameters for ``n_samples`` training rows as a :class:`Plan`."""
    batch_size = batch_size_for(est.batch_size, n_samples)
    if est.solver == "adam":
        optimizer = OptimizerConfig("adam", beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon)
    elif est.momentum == 0:
        optimizer = OptimizerConfig("sgd")
    else:
        optimizer = OptimizerConfig(
            "momentum", momentum=est.momentum, nesterov=est.nesterovs_momentum
        )
    config = TrainConfig(
        batch_size=batch_size,
        epochs=int(est.max_iter),
        optimizer=optimizer.name,
        learning_rate=float(est.learning_rate_init),
        lr_schedule=est.lr_schedule,
        l2=est.alpha / batch_size,
        seed=seed,
        dtype=setup.dtype.name,
        log_interval=int(est.log_interval),
    )
    return Plan(
        engine=setup.engine,
        config=config,
        optimizer=optimizer,
        learning_rate=est.learning_rate if est.solver == "sgd" else "constant",
        power_t=est.power_t,
        tol=est.tol,
        n_iter_no_change=est.n_iter_no_change,
        shuffle=est.shuffle,
        verbose=bool(est.verbose),
        augment=setup.augment,
        regularization=setup.regularization,
    )


def split(X: np.ndarray, codes: np.ndarray, seed: int, fraction: float, classes: np.ndarray):
    """Return scikit-learn's early-stopping split: (X_fit, codes_fit, (X_val, codes_val)).

    It is stratified by the labels themselves (``classes[codes]``: the same split as by codes,
    and an error naming a class too small to split names the user's label); multilabel codes
    (an indicator matrix) are not stratified, as scikit-learn's.
    """
    stratify = None if codes.ndim == 2 else classes[codes]
    X_fit, X_val, y_fit, y_val = train_test_split(
        X, codes, random_state=seed, test_size=fraction, stratify=stratify
    )
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    X_fit = X_fit if is_sparse(X_fit) else np.ascontiguousarray(X_fit)
    return X_fit, np.ascontiguousarray(y_fit), (X_val, y_val)


# Rows the loss before training is measured on (the divergence check's baseline).
BASELINE_ROWS = 4096


def baseline_loss(engine: Engine, model: ModelState, X: Any, codes: np.ndarray) -> float:
    """Mean loss before training on at most ``BASELINE_ROWS`` evenly spaced rows of ``X``.

    It is the baseline of the divergence check (``reference.training.check_divergence``: more
    than 10x the loss before training, or at least chance, stops training), for which a
    subset's estimate serves; measured on all of a 60,000-row X it cost ~40% of an epoch's time
    per ``fit`` at hidden 512 (a forward pass over every row).
    """
    m = X.shape[0]
    if m > BASELINE_ROWS:
        rows = np.linspace(0, m - 1, BASELINE_ROWS).astype(np.int64)  # distinct: m > rows
        X, codes = X[rows], codes[rows]
    return cross_entropy(proba_of(engine, model, X), codes)


def start(model: ModelState, initial_loss: float, seed: int, early_stopping: bool) -> Progress:
    """Fresh progress for a run starting at ``model``."""
    progress = Progress(
        state=state_for(model), rng=np.random.default_rng(seed), initial_loss=initial_loss
    )
    if early_stopping:
        progress.validation_scores, progress.best_validation_score = [], -math.inf
    return progress


def model_epoch_fn(
    plan: Plan, network: Network, X: np.ndarray, y: np.ndarray, epoch_now: Callable[[], int]
) -> EpochFn:
    """Return the epoch function the loop runs, on a :class:`ModelState`, chosen once.

    It is the engine's own, or one that densifies sparse X a chunk at a time, or one that
    augments each batch.

    Without regularisation those step the weights alone (the engines' plain epoch functions,
    as the bench times them) and are wrapped here; with it they carry the ``ModelState``.
    ``epoch_now()``: the index of the epoch about to run (the augmentation draws' counter).
    """
    engine, reg, optimizer, l2 = plan.engine, plan.regularization, plan.optimizer, plan.config.l2
    epoch_fn: Callable[..., Any]
    if is_sparse(X):
        epoch_fn = SparseEpoch(engine, X, y, optimizer, l2, reg)
    elif plan.augment is not None:
        check_images(X)
        seed = plan.config.seed
        epoch_fn = AugmentingEpoch(engine, X, y, optimizer, l2, plan.augment, seed, epoch_now, reg)
    elif reg is None:
        epoch_fn = engine.epoch_fn(network, X, y, optimizer, l2)
    else:
        epoch_fn = engine.regularized_epoch_fn(network, X, y, optimizer, l2, reg)
    if reg is not None:
        return epoch_fn
    weights_fn = epoch_fn

    def weights_epoch(model, order, batch_size, learning_rate, state):
        network, loss_sum, correct = weights_fn(
            model.network, order, batch_size, learning_rate, state
        )
        return ModelState(network), loss_sum, correct

    return weights_epoch


def stochastic(
    plan: Plan,
    progress: Progress,
    model: ModelState,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    callback: Callback | None = None,
    n_classes: int | None = None,
) -> tuple[ModelState, History]:
    """``epochs`` more epochs of sgd/adam from ``progress`` (advanced in place).

    ``dev``: (X, y) whose accuracy is logged in the history; ``validation``: scikit-learn's
    early-stopping split, whose best weights are returned in place of the last ones.
    ``n_classes``: predict among the first outputs only (a single class never predicts the
    second output it trains beside it, as scikit-learn's scores it).
    """
    engine, m = plan.engine, X.shape[0]
    epoch_fn = model_epoch_fn(plan, model.network, X, y, lambda: progress.epochs_done)
    if not plan.shuffle:
        natural = np.arange(m, dtype=np.int64)
        shuffled_fn = epoch_fn

        def epoch_fn(model, order, batch_size, learning_rate, state):
            return shuffled_fn(model, natural, batch_size, learning_rate, state)

    def predict(model: ModelState, X_other: np.ndarray) -> np.ndarray:
        if engine.output != "softmax":
            return predictions(proba_of(engine, model, X_other), engine.output)
        return np.argmax(proba_of(engine, model, X_other)[:, :n_classes], axis=1)

    score = None
    if validation is not None:
        X_val, y_val = validation

        def score(model: ModelState) -> float:
            if engine.output != "softmax":  # subset accuracy, as scikit-learn's score
                proba = proba_of(engine, model, X_val)
                return correct_count(proba, y_val, engine.output) / len(y_val)
            return float(np.mean(predict(model, X_val) == y_val))

    model, history = fit(
        epoch_fn,
        predict,
        m,
        model,
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
        stop=lambda epoch, loss, trained: progress.after_epoch(plan, m, loss, trained, score),
    )
    if progress.best_model is not None:  # early stopping: the best validation weights
        model, progress.best_model = progress.best_model, None
    return model, history


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
