"""The scikit-learn estimator on the Numba kernels: :class:`MLPClassifier`.

Modules, as scikit-learn lays out ``sklearn.neural_network``: the class (``_classifier``) and
its methods (``_base``), input validation (``_validation``), the settings worked out once per
call (``_setup``), the stochastic loop (``_stochastic``, ``_progress``), L-BFGS (``_lbfgs``),
augmentation (``_augmenting``), dropout/L1/batch norm (``_regularizing``), sparse X
(``_sparse``), starting weights (``_weights``), the training state (``_state``) and the engines
(:mod:`mnistbench.estimator.engines`, public).
"""

from sklearn.exceptions import NotFittedError

from ._classifier import MLPClassifier
from ._setup import check_settings
from ._state import BatchNormState, ModelState
from .engines import ENGINES

__all__ = [
    "ENGINES",
    "BatchNormState",
    "MLPClassifier",
    "ModelState",
    "NotFittedError",
    "check_settings",
]
