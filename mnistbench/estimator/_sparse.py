"""Sparse X (SciPy CSR/CSC) in the estimator: densified a chunk of rows at a time, never whole.

The engines read dense rows, so a sparse X reaches them through a preallocated buffer of
:data:`CHUNK_ROWS` rows: in training a chunk of whole mini-batches of the epoch's order at a
time (:class:`SparseEpoch`, the engine's own epoch function then steps through the chunk's
batches), in prediction, the full-batch L-BFGS gradient and the early-stopping score a chunk of
consecutive rows at a time. The steps are those of the dense matrix: same batches, same order,
same arithmetic. CSC is converted to CSR once (a sparse copy) so rows index cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse

from mnistbench.reference.network import Network
from mnistbench.reference.optim import OptimizerConfig, OptimizerState

from ._regularizing import Regularization
from ._state import ModelState

if TYPE_CHECKING:
    from .engines import Engine

__all__ = [
    "CHUNK_ROWS",
    "SparseEpoch",
    "bind_step",
    "gradients",
    "is_sparse",
    "predict_proba",
    "rows_of",
]

# Rows densified per buffer (rounded down to whole batches in training, at least one batch):
# 1,024 rows of 784 float32 features are 3 MiB.
CHUNK_ROWS = 1024


def is_sparse(X: Any) -> bool:
    return scipy.sparse.issparse(X)


def rows_of(X: Any) -> Any:
    """X with cheap row access: CSR as it is, any other sparse format as CSR; dense as is."""
    return X.tocsr() if is_sparse(X) and X.format != "csr" else X


def _dense(X: Any, rows: Any, out: np.ndarray) -> np.ndarray:
    """``out`` <- the dense rows ``X[rows]`` (a slice or an index array)."""
    out.fill(0)
    X[rows].toarray(out=out)
    return out


def predict_proba(engine: Engine, model: ModelState, X: Any) -> np.ndarray:
    """``engine.predict_proba`` on X, a chunk of dense rows at a time where X is sparse."""
    network, batch_norm = model
    if not is_sparse(X):
        return engine.predict_proba(network, X, batch_norm)
    X, m = rows_of(X), X.shape[0]
    out = np.empty((m, network.n_out), network.dtype)
    buffer = np.zeros((min(CHUNK_ROWS, m), X.shape[1]), X.dtype)
    for start in range(0, m, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, m)
        dense = _dense(X, slice(start, stop), buffer[: stop - start])
        out[start:stop] = engine.predict_proba(network, dense, batch_norm)
    return out


def gradients(
    engine: Engine, network: Network, X: Any, y: np.ndarray, l2: float
) -> tuple[Network, float]:
    """Return ``engine.gradients`` on X, a chunk of dense rows at a time where X is sparse.

    For sparse X: the row-weighted mean of the chunks' (each already mean gradient + ``l2 W``,
    so the weights, summing to 1, keep the L2 term whole).
    """
    if not is_sparse(X):
        return engine.gradients(network, X, y, l2)
    X, m = rows_of(X), X.shape[0]
    buffer = np.zeros((min(CHUNK_ROWS, m), X.shape[1]), X.dtype)
    total, loss = [np.zeros(p.shape, np.float64) for p in network], 0.0
    for start in range(0, m, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, m)
        dense = _dense(X, slice(start, stop), buffer[: stop - start])
        grads, chunk_loss = engine.gradients(network, dense, y[start:stop], l2)
        weight = (stop - start) / m
        for acc, g in zip(total, grads, strict=True):
            acc += weight * g
        loss += weight * chunk_loss
    return Network(g.astype(network.dtype) for g in total), loss


def bind_step(
    engine: Engine,
    params: Network | ModelState,
    X: np.ndarray,
    y: np.ndarray,
    optimizer: OptimizerConfig,
    l2: float,
    regularization: Regularization | None,
):
    """Return the engine's epoch function on (X, y) for an epoch driver that steps ``params``.

    ``params`` is the weights alone (``regularization`` None: the engines' plain epoch
    function) or, regularised, a ``ModelState`` (the weights with their batch norm).
    """
    if regularization is None:
        return engine.epoch_fn(cast(Network, params), X, y, optimizer, l2)
    network = cast(ModelState, params).network
    return engine.regularized_epoch_fn(network, X, y, optimizer, l2, regularization)


class SparseEpoch:
    """An epoch function for the shared loop on sparse X (see the module docstring).

    ``engine``: a :class:`mnistbench.estimator.engines.Engine`; X: (m, n) CSR in the kernels'
    input dtype (uint8 pixels or the weights' float); y: (m,) int64 codes; ``regularization``:
    dropout/L1/batch norm, or None. It steps what the engine's epoch function steps
    (:func:`bind_step`): the weights alone, or a ``ModelState`` where regularised.
    """

    def __init__(
        self,
        engine: Engine,
        X: Any,
        y: np.ndarray,
        optimizer: OptimizerConfig,
        l2: float,
        regularization: Regularization | None = None,
    ) -> None:
        self.engine, self.X, self.y = engine, rows_of(X), y
        self.optimizer, self.l2, self.regularization = optimizer, l2, regularization
        self._bound: dict[int, tuple] = {}

    def _buffer(self, params: Network | ModelState, rows: int) -> tuple:
        """(X, y, step) on preallocated (rows, n) buffers, built once per chunk size."""
        if rows not in self._bound:
            X_batch = np.zeros((rows, self.X.shape[1]), self.X.dtype)
            y_batch = np.zeros((rows, *self.y.shape[1:]), np.int64)  # labels or indicator
            step = bind_step(
                self.engine, params, X_batch, y_batch, self.optimizer, self.l2, self.regularization
            )
            self._bound[rows] = (X_batch, y_batch, step)
        return self._bound[rows]

    def __call__(
        self,
        params: Network | ModelState,
        order: np.ndarray,
        batch_size: int,
        learning_rate: float,
        state: OptimizerState,
    ) -> tuple[Network | ModelState, float, int]:
        m = order.shape[0]
        chunk = min(max(1, CHUNK_ROWS // batch_size) * batch_size, m)
        X_batch, y_batch, step = self._buffer(params, chunk)
        natural = np.arange(chunk, dtype=np.int64)
        loss_sum, correct = 0.0, 0
        for start in range(0, m, chunk):
            rows = order[start : start + chunk]
            n = rows.shape[0]
            _dense(self.X, rows, X_batch[:n])
            np.take(self.y, rows, axis=0, out=y_batch[:n])
            # Dropout masks are drawn for the data-set rows, not the buffer's.
            extra = {} if self.regularization is None else {"rows": rows}
            params, batch_loss, batch_correct = step(
                params, natural[:n], batch_size, learning_rate, state, **extra
            )
            loss_sum += batch_loss
            correct += batch_correct
        return params, loss_sum, correct
