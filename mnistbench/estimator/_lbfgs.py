"""scikit-learn's ``solver="lbfgs"``: SciPy's L-BFGS-B on an engine's full-batch gradient."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from mnistbench.reference.model import History
from mnistbench.reference.network import Network

from ._sparse import gradients
from ._validation import penalty
from .engines import Engine

__all__ = ["lbfgs"]


def lbfgs(
    engine: Engine,
    network: Network,
    X: np.ndarray,
    y: np.ndarray,
    *,
    l2: float,
    max_iter: int,
    max_fun: int,
    tol: float,
    verbose: bool = False,
    l1: float = 0.0,
) -> tuple[Network, History, int, float]:
    """SciPy's L-BFGS-B on the engine's full-batch loss: (network, history, iterations, loss).

    The objective is scikit-learn's: mean cross-entropy + ``0.5 * l2 * sum |W|^2`` with
    ``l2 = alpha / n_samples``; ``max_iter``, ``max_fun`` and ``tol`` (as ``gtol``) as there;
    plus ``l1 * sum |W|`` with its subgradient ``l1 * sign(W)``.
    """
    shapes, dtype = [p.shape for p in network], network.dtype
    ends = np.cumsum([int(np.prod(s)) for s in shapes])

    def unpack(x: np.ndarray) -> Network:
        pieces = np.split(x.astype(dtype), ends[:-1])
        return Network(
            np.ascontiguousarray(p.reshape(s)) for p, s in zip(pieces, shapes, strict=True)
        )

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        current = unpack(x)
        grads, loss = gradients(engine, current, X, y, l2)
        if l1:
            grads = Network(
                [
                    g + (l1 * np.sign(p) if i % 2 == 0 else 0)
                    for i, (g, p) in enumerate(zip(grads, current, strict=True))
                ]
            )
        flat = np.concatenate([g.ravel() for g in grads]).astype(np.float64)
        return loss + penalty(current, l2, l1), flat

    history = History()
    started = time.perf_counter()

    def record(intermediate_result: scipy.optimize.OptimizeResult) -> None:  # SciPy's name
        history.append(
            len(history), intermediate_result.fun, math.nan, math.nan, time.perf_counter() - started
        )

    x0 = np.concatenate([p.ravel() for p in network]).astype(np.float64)
    result = scipy.optimize.minimize(
        objective,
        x0,
        method="L-BFGS-B",
        jac=True,
        callback=record,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )
    if verbose:
        print(f"L-BFGS-B: {result.nit} iterations, loss = {result.fun:.8f}: {result.message}")
    if result.status != 0:
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iteration(s) (status="
            f"{result.status}): {result.message}. Increase the number of iterations "
            "(max_iter) or scale the data.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return unpack(result.x), history, max(int(result.nit), 1), float(result.fun)
