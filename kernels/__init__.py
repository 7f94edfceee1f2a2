"""Numba-accelerated kernels for the seed network, behind validated public wrappers.

``from mnistbench.kernels import forward_prop, backward_prop, gradient_descent, train`` gives the
reference's functions with the same signatures, running on jitted, parallel kernels.
"""

from mnistbench.reference.model import Activations, History, Params, init_params
from mnistbench.reference.optim import OptimizerConfig, OptimizerState, init_state
from mnistbench.reference.training import TrainConfig, TrainingDiverged

from .api import (
    backward_prop,
    forward_prop,
    fused_gradients,
    fused_step,
    get_accuracy,
    get_predictions,
    make_predictions,
    predict_proba,
    update_params,
)
from .estimator import MLPClassifier, NotFittedError
from .persist import ModelFileError, load_model, save_model
from .training import gradient_descent, minibatch_epoch, train

__all__ = [
    "Activations",
    "History",
    "MLPClassifier",
    "ModelFileError",
    "NotFittedError",
    "OptimizerConfig",
    "OptimizerState",
    "Params",
    "TrainConfig",
    "TrainingDiverged",
    "backward_prop",
    "forward_prop",
    "fused_gradients",
    "fused_step",
    "get_accuracy",
    "get_predictions",
    "gradient_descent",
    "init_params",
    "init_state",
    "load_model",
    "make_predictions",
    "minibatch_epoch",
    "predict_proba",
    "save_model",
    "train",
    "update_params",
]
