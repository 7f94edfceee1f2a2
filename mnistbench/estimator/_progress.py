"""A training call's :class:`Plan`, and the :class:`Progress` that carries over to the next.

:meth:`Progress.after_epoch` is scikit-learn's stopping rule (``tol``, ``n_iter_no_change``,
``early_stopping``) and :meth:`Progress.learning_rate` its ``invscaling``/``adaptive`` rate on
top of our ``lr_schedule``; ``partial_fit`` keeps a ``Progress`` between calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mnistbench.reference.augment import AugmentConfig
from mnistbench.reference.optim import OptimizerConfig, OptimizerState
from mnistbench.reference.optim import learning_rate_at as schedule_at
from mnistbench.reference.training import TrainConfig

from ._regularizing import Regularization
from ._state import ModelState
from ._validation import penalty
from .engines import Engine

__all__ = ["Plan", "Progress"]

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

    state: OptimizerState | None  # None: L-BFGS, or a model file (no optimizer state kept)
    rng: np.random.Generator | None
    initial_loss: float
    epochs_done: int = 0
    samples_seen: int = 0  # scikit-learn's t_
    loss_curve: list[float] = field(default_factory=list)
    best_loss: float = math.inf
    validation_scores: list[float] | None = None
    best_validation_score: float | None = None
    best_model: ModelState | None = None
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
        self,
        plan: Plan,
        m: int,
        mean_loss: float,
        model: ModelState,
        validation: Callable[[ModelState], float] | None,
    ) -> bool:
        """Record the epoch; return True when scikit-learn would stop.

        ``validation``: a callable giving the held-out accuracy of ``model``, or None without
        early stopping.
        """
        self.epochs_done += 1
        self.samples_seen += m
        self.rate_samples = self.samples_seen
        l1 = 0.0 if plan.regularization is None else plan.regularization.l1
        loss = mean_loss + penalty(model.network, plan.config.l2, l1)
        self.loss_curve.append(loss)
        if plan.verbose:
            print(f"Iteration {self.epochs_done}, loss = {loss:.8f}")
        if validation is not None:
            # early stopping: start() set both (scikit-learn's validation_scores_ and best score)
            assert self.validation_scores is not None and self.best_validation_score is not None
            score = validation(model)
            self.validation_scores.append(score)
            if plan.verbose:
                print(f"Validation score: {score:f}")
            self._count(score < self.best_validation_score + plan.tol)
            if score > self.best_validation_score:
                self.best_validation_score = score
                self.best_model = model.copy()
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

    def warm_start(self, previous: Progress, fitted: ModelState) -> None:
        """Continue ``previous`` as scikit-learn's warm start does.

        This progress's optimizer is fresh (momentum and Adam buffers zero, the adaptive rate
        back at ``learning_rate_init``, and so is invscaling's first epoch), but ``t_``, the
        loss curve, the best loss, the no-improvement count and, with early stopping, the
        validation scores, the best score and its weights (``fitted``) carry over.
        """
        self.samples_seen = previous.samples_seen
        self.loss_curve = list(previous.loss_curve)
        self.best_loss = previous.best_loss
        self.no_improvement = previous.no_improvement
        if self.validation_scores is not None and previous.validation_scores is not None:
            self.validation_scores = list(previous.validation_scores)
            self.best_validation_score = previous.best_validation_score
            self.best_model = fitted.copy()

    def _count(self, no_improvement: bool) -> None:
        self.no_improvement = self.no_improvement + 1 if no_improvement else 0
