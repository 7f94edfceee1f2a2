"""NumPy reference implementation of the seed network: the oracle for every fast kernel.

Never imports Numba. The seed notebook's names are all here.
"""

from .model import (
    Activations,
    History,
    Params,
    ReLU,
    ReLU_deriv,
    backward_prop,
    forward_prop,
    get_accuracy,
    get_predictions,
    init_params,
    loss,
    make_predictions,
    one_hot,
    softmax,
    update_params,
)
from .training import TrainConfig, TrainingDiverged, gradient_descent, minibatch_epoch, train

__all__ = [
    "Activations",
    "History",
    "Params",
    "ReLU",
    "ReLU_deriv",
    "TrainConfig",
    "TrainingDiverged",
    "backward_prop",
    "forward_prop",
    "get_accuracy",
    "get_predictions",
    "gradient_descent",
    "init_params",
    "loss",
    "make_predictions",
    "minibatch_epoch",
    "one_hot",
    "softmax",
    "test_prediction",
    "train",
    "update_params",
]


def __getattr__(name: str):
    # test_prediction draws with matplotlib; import it only when asked for.
    if name == "test_prediction":
        from .plots import test_prediction

        return test_prediction
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
