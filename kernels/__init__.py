"""Numba-accelerated kernels for the seed network, behind validated public wrappers.

``from mnistbench.kernels import forward_prop, backward_prop, gradient_descent, train`` gives the
reference's functions with the same signatures, running on jitted, parallel kernels. This package
holds Numba code only; the estimator, model files, CLI and bench report live in :mod:`mnistbench`.
"""

# The folder kernels/ is installed as mnistbench.kernels. Imported by its bare name (``import
# kernels`` with the repository root on sys.path) it would load a second copy of every module.
if __name__ != "mnistbench.kernels":
    raise ImportError(
        f"the folder kernels/ is the package mnistbench.kernels: import mnistbench.kernels, not "
        f"{__name__} (that would load a second copy of the kernels)"
    )

import importlib
import warnings

from mnistbench.reference.model import Activations, History, Params, init_params
from mnistbench.reference.optim import OptimizerConfig, OptimizerState, init_state
from mnistbench.reference.training import TrainConfig, TrainingDiverged

from .model import (
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
from .training import gradient_descent, minibatch_epoch, train

__all__ = [
    "Activations",
    "History",
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
    "make_predictions",
    "minibatch_epoch",
    "predict_proba",
    "train",
    "update_params",
]

# Application names that used to be importable from here, and their new modules. Importing
# them from ``mnistbench.kernels`` still works, with a DeprecationWarning, and loads the
# application only then: importing the kernels never imports the layer above them. The old path
# goes in REMOVED_IN (CHANGELOG.md announces it).
REMOVED_IN = "0.2.0"
_MOVED = {
    "MLPClassifier": "mnistbench.estimator",
    "NotFittedError": "mnistbench.estimator",
    "ModelFileError": "mnistbench.model_files",
    "load_model": "mnistbench.model_files",
    "save_model": "mnistbench.model_files",
}


def __getattr__(name: str):
    """Deprecated application names, loaded from their new modules with a warning."""
    if name in _MOVED:
        warnings.warn(
            f"mnistbench.kernels.{name} moved to {_MOVED[name]} (from mnistbench import {name}); "
            f"the old import will be removed in mnistbench {REMOVED_IN}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
