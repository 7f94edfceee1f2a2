"""NumPy reference implementation of the seed network: the oracle for every fast kernel.

Never imports Numba. The seed notebook's names are all here.
"""

# The folder reference/ is installed as mnistbench.reference. Imported by its bare name (``import
# reference`` with the repository root on sys.path) it would load a second copy of every module.
if __name__ != "mnistbench.reference":
    raise ImportError(
        f"the folder reference/ is the package mnistbench.reference: import mnistbench.reference, "
        f"not {__name__} (that would load a second copy of the reference)"
    )

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
from .network import (
    ACTIVATIONS,
    INITS,
    LEAKY_RELU_SLOPE,
    Forward,
    Network,
    activate,
    activation_grad,
    default_init,
    init_network,
    layer_sizes,
    network_epoch,
)
from .training import TrainConfig, TrainingDiverged, gradient_descent, minibatch_epoch, train

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "LEAKY_RELU_SLOPE",
    "Activations",
    "Forward",
    "History",
    "Network",
    "Params",
    "ReLU",
    "ReLU_deriv",
    "TrainConfig",
    "TrainingDiverged",
    "activate",
    "activation_grad",
    "backward_prop",
    "default_init",
    "forward_prop",
    "get_accuracy",
    "get_predictions",
    "gradient_descent",
    "init_network",
    "init_params",
    "layer_sizes",
    "loss",
    "make_predictions",
    "minibatch_epoch",
    "network_epoch",
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
