"""The private scikit-learn names the estimator builds on, imported in one place.

``_fit_context`` (parameter validation around ``fit``) and ``sklearn.utils._param_validation``
(the ``_parameter_constraints`` vocabulary) are not public API, so a scikit-learn release may
move them. Importing them here, and only here, turns such a move into one clear error naming the
scikit-learn versions this package is tested with, instead of an ``ImportError`` deep inside it.
"""

from __future__ import annotations

import sklearn

# The oldest scikit-learn this package supports (pyproject.toml: scikit-learn>=1.6, which added
# sklearn.utils.validation.validate_data and the __sklearn_tags__ protocol used here).
MIN_SKLEARN = "1.6"

try:
    from sklearn.base import _fit_context
    from sklearn.utils._param_validation import (
        Interval,
        InvalidParameterError,
        Options,
        StrOptions,
    )
except ImportError as error:  # an unsupported scikit-learn (tests/test_sklearn_compat.py)
    raise ImportError(
        f"mnistbench's MLPClassifier needs scikit-learn >= {MIN_SKLEARN} with the private "
        "helpers sklearn.base._fit_context and sklearn.utils._param_validation (Interval, "
        f"InvalidParameterError, Options, StrOptions); scikit-learn {sklearn.__version__} "
        f"does not provide them ({error}). Install a supported version: "
        f"pip install 'scikit-learn>={MIN_SKLEARN}'"
    ) from error

__all__ = [
    "MIN_SKLEARN",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "_fit_context",
]
