"""What a training run carries from epoch to epoch: the weights and, beside them, batch norm.

The weights are always a :class:`~mnistbench.reference.network.Network` ``(W1, b1, ..., WL,
bL)``, whatever the depth, width or activation (which kernels run them is the engine's business,
:mod:`mnistbench.estimator.engines`). A batch-normalised network adds a
:class:`BatchNormState` (learnable scale and shift, running statistics) beside them; the shared
loop moves the pair as one :class:`ModelState`, so early stopping, warm starts and model files
keep both together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from mnistbench.reference.batchnorm import (
    BN_EPS,
    BatchNorm,
    RunningStats,
    init_batch_norm,
    init_running_stats,
)
from mnistbench.reference.network import Network

__all__ = ["BN_KINDS", "BatchNormState", "ModelState", "bn_keys"]

# The batch-norm arrays of a hidden layer (numbered from 1) in a model file, in this order.
BN_KINDS = ("gamma", "beta", "running_mean", "running_var")


def bn_keys(depth: int) -> tuple[str, ...]:
    """Return ``gamma1, beta1, running_mean1, running_var1, ...`` for ``depth`` hidden layers."""
    return tuple(f"{kind}{layer}" for layer in range(1, depth + 1) for kind in BN_KINDS)


@dataclass(frozen=True)
class BatchNormState:
    """Batch normalisation of every hidden layer of a network, kept beside its weights.

    Parameters
    ----------
    bn : BatchNorm
        Learnable scale and shift ``(gamma_1, beta_1, ..., gamma_D, beta_D)``, each
        ``(units_l,)``, trained with the weights.
    running : RunningStats
        Running mean and unbiased variance per hidden layer, read at prediction.

    Examples
    --------
    >>> import numpy as np
    >>> state = BatchNormState.fresh((3, 2), np.float32)
    >>> state.units, state.dtype
    ((3, 2), dtype('float32'))
    >>> [a.tolist() for a in state.arrays()[:4]]
    [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """

    bn: BatchNorm
    running: RunningStats

    @classmethod
    def fresh(cls, units: tuple[int, ...], dtype: np.typing.DTypeLike) -> BatchNormState:
        """Return PyTorch's start: gamma 1, beta 0, running mean 0, running variance 1."""
        bn = init_batch_norm(units, dtype)
        return cls(bn, init_running_stats(bn))

    @classmethod
    def from_arrays(cls, network: Network, arrays: tuple) -> BatchNormState:
        """Return the state of ``arrays`` in :meth:`arrays` order, checked against ``network``.

        Raises ``ValueError`` unless each array holds one finite value per hidden unit in the
        weights' dtype (variances also >= 0).
        """
        if len(arrays) != 4 * network.depth:
            raise ValueError(f"expected {4 * network.depth} batch-norm arrays, got {len(arrays)}")
        for name, a in zip(bn_keys(network.depth), arrays, strict=True):
            units = network.sizes[int("".join(c for c in name if c.isdigit()))]
            if not isinstance(a, np.ndarray) or a.shape != (units,) or a.dtype != network.dtype:
                raise ValueError(
                    f"{name} must be a {network.dtype} array of {units} values, got "
                    f"{getattr(a, 'dtype', type(a).__name__)} {np.shape(a)}"
                )
            if not np.isfinite(a).all() or (name.startswith("running_var") and (a < 0).any()):
                raise ValueError(f"{name} contains NaN, Inf or (a variance) negative values")
        layers = range(network.depth)
        bn = BatchNorm(a for layer in layers for a in arrays[4 * layer : 4 * layer + 2])
        return cls(bn, RunningStats(tuple(arrays[2::4]), tuple(arrays[3::4])))

    @property
    def units(self) -> tuple[int, ...]:
        """Width of each normalised hidden layer."""
        return self.bn.units

    @property
    def dtype(self) -> np.dtype:
        """The arrays' dtype (the weights')."""
        return self.bn.dtype

    def copy(self) -> BatchNormState:
        """Return a deep copy (training updates the running statistics in place)."""
        return BatchNormState(self.bn.copy(), self.running.copy())

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Return gamma, beta, running mean, running variance of each hidden layer in turn."""
        bn, running = self.bn, self.running
        per_layer = zip(bn.gammas, bn.betas, running.mean, running.var, strict=True)
        return tuple(a for arrays in per_layer for a in arrays)

    def folded(self, network: Network) -> Network:
        """Return ``network`` in prediction mode with each batch norm folded into its layer.

        ``W' = s W``, ``b' = s (b - running_mean) + beta`` with ``s = gamma / sqrt(running_var
        + eps)``, computed in float64 and cast to the weights' dtype: the reference's
        prediction up to rounding.
        """
        arrays, running = list(network), self.running
        for layer, (gamma, beta) in enumerate(zip(self.bn.gammas, self.bn.betas, strict=True)):
            W, b = arrays[2 * layer], arrays[2 * layer + 1]
            var = running.var[layer].astype(np.float64)
            s = gamma.astype(np.float64) / np.sqrt(var + BN_EPS)
            arrays[2 * layer] = (W * s[:, None]).astype(W.dtype)
            mean = running.mean[layer].astype(np.float64)
            arrays[2 * layer + 1] = ((b - mean) * s + beta).astype(b.dtype)
        return Network(arrays)


class ModelState(NamedTuple):
    """The weights and, for a batch-normalised network, its batch norm: what training carries.

    Parameters
    ----------
    network : Network
        The weights ``(W1, b1, ..., WL, bL)``, ``W_l`` of shape ``(units_out, units_in)``.
    batch_norm : BatchNormState or None, default=None
        Batch normalisation of the hidden layers, or None for a network without.

    Examples
    --------
    >>> from mnistbench.reference.network import init_network
    >>> state = ModelState(init_network((4, 3, 2), seed=0))
    >>> state.network.sizes, state.batch_norm is None, state.dtype
    ((4, 3, 2), True, dtype('float64'))
    """

    network: Network
    batch_norm: BatchNormState | None = None

    @property
    def dtype(self) -> np.dtype:
        """The weights' dtype."""
        return self.network.dtype

    def copy(self) -> ModelState:
        """Return a deep copy of the weights and batch norm."""
        bn = None if self.batch_norm is None else self.batch_norm.copy()
        return ModelState(self.network.copy(), bn)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Return the weights, then the batch-norm arrays (:meth:`BatchNormState.arrays`)."""
        extra = () if self.batch_norm is None else self.batch_norm.arrays()
        return (*self.network, *extra)
