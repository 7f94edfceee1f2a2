"""The estimator's starting weights, each checked.

Fresh for its architecture, a warm copy of its fitted ones, or the ``coefs_``/``intercepts_``
a user assigned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mnistbench.reference.network import Network

from ._state import BatchNormState, ModelState

if TYPE_CHECKING:
    from ._classifier import MLPClassifier
    from ._stochastic import Setup

__all__ = ["assigned_weights", "same_views", "start_model"]


def assigned_weights(
    est: MLPClassifier,
    coefs: Any,
    intercepts: Any,
    n_out: int | None,
    previous: Network | None,
) -> Network:
    """Return the weights of ``coefs_`` and ``intercepts_`` as the user assigned them.

    ``coefs_[i]`` is ``(n_in_i, n_out_i)``. Checked (layer count, chained shapes,
    ``n_features_in_``, ``n_out``, finite numbers) and cast to the fitted weights' dtype
    (unfitted: the arrays' own float32/float64, else float64).
    """
    if not isinstance(coefs, list | tuple) or not isinstance(intercepts, list | tuple):
        raise ValueError(
            "coefs_ and intercepts_ must both be lists of arrays, got "
            f"{type(coefs).__name__} and {type(intercepts).__name__}"
        )
    if len(coefs) != len(intercepts) or len(coefs) < 2:
        raise ValueError(
            "coefs_ and intercepts_ need one array per layer (at least 2) each, "
            f"got {len(coefs)} and {len(intercepts)}"
        )
    try:
        coefs = [np.asarray(c) for c in coefs]
        intercepts = [np.asarray(b) for b in intercepts]
    except (TypeError, ValueError) as e:
        raise ValueError(f"coefs_ and intercepts_ must hold numeric arrays: {e}") from e
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts, strict=True)):
        if coef.ndim != 2 or intercept.shape != coef.shape[1:]:
            raise ValueError(
                f"coefs_[{i}] must be 2-D and intercepts_[{i}] of shape "
                f"(coefs_[{i}].shape[1],), got {coef.shape} and "
                f"{intercept.shape}"
            )
        if i and coef.shape[0] != coefs[i - 1].shape[1]:
            raise ValueError(
                f"coefs_[{i}] has {coef.shape[0]} rows but layer {i - 1} has "
                f"{coefs[i - 1].shape[1]} units"
            )
    n_in = getattr(est, "n_features_in_", coefs[0].shape[0])
    if coefs[0].shape[0] != n_in:
        raise ValueError(f"coefs_[0] has {coefs[0].shape[0]} rows but X has {n_in} features")
    if n_out is not None and coefs[-1].shape[1] != n_out:
        raise ValueError(
            f"coefs_[-1] has {coefs[-1].shape[1]} columns but there are {n_out} "
            "classes (one softmax output each)"
        )
    arrays = [*coefs, *intercepts]
    if any(a.dtype.kind not in "fiub" or not np.isfinite(a).all() for a in arrays):
        raise ValueError("coefs_ and intercepts_ must hold finite real numbers")
    if previous is not None:
        dtype = previous.dtype
    else:
        dtype = np.result_type(*(a.dtype for a in arrays), np.float32)
        dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
    weights = []
    for coef, intercept in zip(coefs, intercepts, strict=True):
        weights += [np.ascontiguousarray(coef.T, dtype), np.ascontiguousarray(intercept, dtype)]
    return Network(weights)


def start_model(
    est: MLPClassifier, setup: Setup, n_in: int, n_out: int, seed: int, warm: bool
) -> ModelState:
    """Return the weights a training call starts from.

    Fresh for the estimator's architecture (with fresh batch norm where asked for), or (warm)
    a copy of its fitted ones and their batch norm.
    """
    hidden, dtype, reg = setup.hidden, setup.dtype, setup.regularization
    batch_norm = reg is not None and reg.batch_norm
    if not warm:
        init = None if est.init == "auto" else est.init
        sizes = (n_in, *hidden, n_out)
        network = setup.engine.init(sizes, setup.activation, init, seed, dtype)
        return ModelState(network, BatchNormState.fresh(hidden, dtype) if batch_norm else None)
    fitted, fitted_bn = est.params_, est.batch_norm_state_
    if (fitted_bn is not None) != bool(est.batch_norm):
        raise ValueError(
            f"batch_norm={bool(est.batch_norm)} does not match the fitted network (batch_norm="
            f"{fitted_bn is not None}); fit it afresh (warm_start=False)"
        )
    if (fitted.n_in, fitted.n_out) != (n_in, n_out):
        raise ValueError(
            f"the fitted network maps {fitted.n_in} features to {fitted.n_out} "
            f"outputs, the data needs {n_in} to {n_out}; fit it afresh (warm_start=False)"
        )
    fitted_hidden = fitted.sizes[1:-1]
    if hidden != fitted_hidden or fitted.dtype != dtype:
        raise ValueError(
            f"hidden_layer_sizes={hidden}, dtype={dtype.name} do not match the fitted "
            f"network (hidden_layer_sizes={fitted_hidden}, dtype={fitted.dtype.name}); "
            "fit it afresh (warm_start=False)"
        )
    return ModelState(fitted, fitted_bn).copy()


def same_views(coefs: Any, intercepts: Any, views: tuple) -> bool:
    """Return True when ``coefs_``/``intercepts_`` hold the very arrays handed out.

    Those are views of the weights: nothing was assigned, and edits in place need no rebuild.
    """
    if not all(isinstance(v, list | tuple) for v in (coefs, intercepts)):
        return False
    arrays = [*coefs, *intercepts]
    return len(arrays) == len(views) and all(a is b for a, b in zip(arrays, views, strict=True))
