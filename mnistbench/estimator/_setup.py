"""The estimator's settings worked out once per ``fit``/``partial_fit`` call: a :class:`Setup`.

The architecture (hidden widths and activation, checked against the engine), the engine bound
to them, dropout/L1/batch norm and augmentation are resolved here, and only here, before any
data is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mnistbench.reference.augment import AugmentConfig

from ._augmenting import augment_config
from ._regularizing import Regularization, regularization_for
from ._validation import architecture, weights_dtype
from .engines import ENGINES, Engine

if TYPE_CHECKING:
    from ._classifier import MLPClassifier

__all__ = ["Setup", "check_settings", "resolve"]


@dataclass(frozen=True)
class Setup:
    """The estimator's settings worked out once per ``fit``/``partial_fit`` call."""

    hidden: tuple[int, ...]  # hidden layer widths
    activation: str  # in the reference's names
    dtype: np.dtype  # the weights'
    engine: Engine  # bound to the activation (and the layer-stack kernels where regularised)
    regularization: Regularization | None  # dropout, L1, batch norm; None when all are off
    augment: AugmentConfig | None  # on-the-fly augmentation; None when off


def resolve(
    est: MLPClassifier, seed: int, layer_stack: bool = False, output: str = "softmax"
) -> Setup:
    """Return what the settings resolve to, checked as ``fit`` checks them before the data.

    They are the architecture on its engine, dropout/l1/batch norm, augmentation and
    the solver it needs. Raises ValueError (or TypeError) naming the value. ``layer_stack``:
    the fitted weights ran on the layer-stack kernels (a warm start keeps to them);
    ``output="logistic"``: multilabel targets, which train without dropout, L1, batch norm or
    augmentation.
    """
    hidden, activation = architecture(est.hidden_layer_sizes, est.activation, est.engine)
    reg = regularization_for(est, len(hidden), seed)
    augment = augment_config(est)
    if augment is not None and est.solver == "lbfgs":
        raise ValueError("augment needs a stochastic solver (sgd or adam), got lbfgs")
    layer_stack = layer_stack or reg is not None
    if output != "softmax" and (reg is not None or augment is not None):
        raise ValueError(
            "multilabel y (an indicator matrix) trains without dropout, l1, batch_norm and "
            "augment; turn them off"
        )
    return Setup(
        hidden=hidden,
        activation=activation,
        dtype=weights_dtype(est),
        engine=ENGINES[est.engine].bind(activation, layer_stack=layer_stack, output=output),
        regularization=reg,
        augment=augment,
    )


def check_settings(est: MLPClassifier) -> None:
    """Raise what ``fit`` would raise about the settings alone (:func:`resolve`).

    ``mnistbench sweep`` runs it on every grid point before the first trial.

    Parameters
    ----------
    est : MLPClassifier
        The estimator whose parameters are checked; nothing is fitted.

    Raises
    ------
    ValueError
        Naming the setting: an architecture the engine cannot run, dropout rates that do not
        fit the hidden layers, augmentation or dropout with lbfgs, and the like.

    Examples
    --------
    >>> from mnistbench import MLPClassifier
    >>> check_settings(MLPClassifier(hidden_layer_sizes=(16, 8), dropout=(0.2, 0.1)))
    >>> check_settings(MLPClassifier(hidden_layer_sizes=(16, 8), dropout=(0.2, 0.1, 0.1)))
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'dropout' parameter ...
    """
    resolve(est, 0)
