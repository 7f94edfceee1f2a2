"""A general MLP (any depth and widths, several activations) in plain vectorized NumPy.

The oracle for the layer-stack kernels. It generalises :mod:`.model`: with one hidden ReLU layer
and ``init="seed"`` every array, loss and gradient equals the seed network's.

* ``Network`` is a flat tuple ``(W1, b1, ..., WL, bL)``; ``W_l`` is ``(units_out, units_in)``,
  ``b_l`` is ``(units_out,)``. Gradients and optimizer buffers use the same type.
* Samples are rows: ``Z_l = A_{l-1} @ W_l.T + b_l`` with ``A_0 = X``; hidden layers apply one
  activation, the last layer softmax (or, ``output="logistic"``, multilabel sigmoids:
  :mod:`.outputs`). The loss is mean cross-entropy (log-sum-exp; binary cross-entropy for
  logistic) plus ``0.5 * l2 * sum |W|^2`` over weights only, as :func:`.model.l2_penalty`.
* Arithmetic happens in the network's dtype (float64 or float32).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

# Re-exported: the activations were defined here before reference/activations.py.
from .activations import ACTIVATION_ALIASES as ACTIVATION_ALIASES
from .activations import ACTIVATIONS as ACTIVATIONS
from .activations import LEAKY_RELU_SLOPE as LEAKY_RELU_SLOPE
from .activations import activate as activate
from .activations import activation_grad, activation_name
from .model import Params
from .optim import OptimizerConfig, OptimizerState, optimizer_step
from .outputs import (
    check_targets,
    correct_count,
    output_delta,
    output_loss,
    output_name,
    predictions,
    probabilities,
)

INITS = ("seed", "he", "glorot")


class Network(tuple):
    """Weights ``(W1, b1, W2, b2, ..., WL, bL)`` of an MLP with ``L - 1`` hidden layers.

    With one hidden layer it is laid out like :class:`.model.Params`. All arrays share one
    floating dtype; shapes must chain (``W_{l+1}.shape[1] == W_l.shape[0]``).
    """

    __slots__ = ()

    def __new__(cls, arrays: Iterable[np.ndarray]) -> Network:
        """Check the layout: (units_out, units_in) and (units_out,) pairs, chained, one dtype."""
        self = super().__new__(cls, arrays)
        _check_layout(self)
        return self

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        """``(W1, ..., WL)``."""
        return tuple(self[0::2])

    @property
    def biases(self) -> tuple[np.ndarray, ...]:
        """``(b1, ..., bL)``."""
        return tuple(self[1::2])

    @property
    def sizes(self) -> tuple[int, ...]:
        """(n_in, h1, ..., n_out)."""
        return (self[0].shape[1], *(W.shape[0] for W in self.weights))

    @property
    def n_in(self) -> int:
        """Inputs per sample."""
        return self[0].shape[1]

    @property
    def n_out(self) -> int:
        """Classes (units of the output layer)."""
        return self[-1].shape[0]

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self) // 2 - 1

    @property
    def dtype(self) -> np.dtype:
        """The arrays' floating dtype."""
        return self[0].dtype

    def copy(self) -> Network:
        """A deep copy: new arrays with the same values."""
        return Network(np.array(p, copy=True) for p in self)

    def astype(self, dtype: np.typing.DTypeLike) -> Network:
        """The same weights as C-contiguous arrays of ``dtype``."""
        return Network(np.ascontiguousarray(p, dtype=dtype) for p in self)

    @classmethod
    def from_params(cls, params: Params) -> Network:
        """The seed network's ``Params(W1, b1, W2, b2)`` as a depth-1 Network (same arrays)."""
        return cls(tuple(params))

    def to_params(self) -> Params:
        """Back to ``Params`` (same arrays); only for one hidden layer."""
        if self.depth != 1:
            raise ValueError(
                f"only a network with 1 hidden layer is a Params, got depth {self.depth}"
            )
        return Params(*self)

    def __repr__(self) -> str:
        return f"Network(sizes={self.sizes}, dtype={self.dtype})"


def check_float_arrays(arrays: tuple, label: str) -> None:
    """Every item a float32/float64 ndarray of the first one's dtype, else ``TypeError``."""
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"{label} {i} must be a float32 or float64 ndarray, got "
                f"{getattr(a, 'dtype', type(a).__name__)}"
            )
        if a.dtype != arrays[0].dtype:
            raise TypeError(f"{label} {i} has dtype {a.dtype}, {label} 0 has {arrays[0].dtype}")


def _check_layout(arrays: tuple) -> None:
    if len(arrays) < 4 or len(arrays) % 2:
        raise ValueError(
            f"a Network holds (W1, b1, ..., WL, bL) with at least one hidden layer: an even "
            f"number >= 4 of arrays, got {len(arrays)}"
        )
    check_float_arrays(arrays, "array")
    units_in = arrays[0].shape[-1]
    for layer in range(len(arrays) // 2):
        W, b = arrays[2 * layer], arrays[2 * layer + 1]
        if W.ndim != 2 or W.shape[1] != units_in or b.shape != (W.shape[0],):
            raise ValueError(
                f"layer {layer + 1}: W must be (units_out, {units_in}) and b (units_out,), got "
                f"W {W.shape} and b {b.shape}"
            )
        units_in = W.shape[0]


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def layer_sizes(n_in: int, hidden: int | Sequence[int], n_out: int) -> tuple[int, ...]:
    """(n_in, h1, ..., n_out) from ``hidden``: one width or a non-empty sequence of widths."""
    n_in = _positive_int(n_in, "n_in")
    n_out = _positive_int(n_out, "n_out")
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (numbers.Integral, Sequence)):
        raise TypeError(f"hidden must be an int or a sequence of ints, got {hidden!r}")
    given: Sequence[object] = (hidden,) if isinstance(hidden, numbers.Integral) else hidden
    if len(given) == 0:
        raise ValueError(f"hidden must name at least one layer width, got {given!r}")
    widths = tuple(_positive_int(h, f"hidden layer width (in {given!r})") for h in given)
    return (n_in, *widths, n_out)


def default_init(activation: str) -> str:
    """'he' for the ReLU family, 'glorot' for tanh, logistic, gelu and identity."""
    return "he" if activation_name(activation) in ("relu", "leaky_relu") else "glorot"


def init_network(
    sizes: Sequence[int],
    *,
    activation: str = "relu",
    init: str | None = None,
    seed: int | np.random.Generator | None = 0,
    dtype: np.typing.DTypeLike = np.float64,
) -> Network:
    """Weights for layer sizes ``(n_in, h1, ..., n_out)``, drawn in float64 then cast.

    seed:   every W and b ``rng.random(shape) - 0.5``, drawn layer by layer, W then b: with one
            hidden layer identical to :func:`.model.init_params`.
    he:     W ~ U(-sqrt(6 / fan_in), +sqrt(6 / fan_in)), b = 0.
    glorot: W ~ U(-sqrt(6 / (fan_in + fan_out)), +...), b = 0.
    ``init=None`` takes :func:`default_init` of ``activation``.

    Examples
    --------
    >>> net = init_network((784, 128, 64, 10), seed=0)
    >>> net.sizes, [W.shape for W in net.weights]
    ((784, 128, 64, 10), [(128, 784), (64, 128), (10, 64)])
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 3:
        raise ValueError(
            f"sizes must be (n_in, h1, ..., n_out) with >= 1 hidden layer, got {sizes!r}"
        )
    sizes = tuple(_positive_int(s, f"layer size (in {sizes!r})") for s in sizes)
    _check_activation(activation)
    init = default_init(activation) if init is None else init
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(seed)
    arrays = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        if init == "seed":
            W = rng.random((fan_out, fan_in)) - 0.5
            b = rng.random(fan_out) - 0.5
        else:
            limit = math.sqrt(6.0 / (fan_in if init == "he" else fan_in + fan_out))
            W = rng.uniform(-limit, limit, (fan_out, fan_in))
            b = np.zeros(fan_out)
        arrays += [W.astype(dtype), b.astype(dtype)]
    return Network(arrays)


_check_activation = activation_name


class Forward(NamedTuple):
    """Pre-activations Z and activations A per layer, each (m, units); A[-1] the probabilities."""

    Z: tuple[np.ndarray, ...]
    A: tuple[np.ndarray, ...]


def _check_batch(network: Network, X: np.ndarray) -> None:
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] != network.n_in:
        raise ValueError(
            f"X must be a 2-D array with {network.n_in} columns, got shape {np.shape(X)}"
        )
    if X.dtype != network.dtype:
        raise TypeError(
            f"X must be {network.dtype} like the network, got {X.dtype} (see training.as_float)"
        )


_check_labels = check_targets  # (Y, m, n_out): integer labels, as regularized.py and kinks.py use


def forward(
    network: Network, X: np.ndarray, activation: str = "relu", output: str = "softmax"
) -> Forward:
    """X: (m, n_in) in the network's dtype -> Z, A per layer, each (m, units)."""
    _check_batch(network, X)
    _check_activation(activation)
    output_name(output)
    Zs, As = [], []
    A = X
    last = len(network) // 2 - 1
    for layer, (W, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        Z = A @ W.T + b
        A = probabilities(Z, output) if layer == last else activate(activation, Z)
        Zs.append(Z)
        As.append(A)
    return Forward(tuple(Zs), tuple(As))


def l2_penalty(network: Network, l2: float) -> float:
    """0.5 * l2 * sum over weights of |W|^2; biases are not penalised."""
    if l2 == 0:
        return 0.0
    return 0.5 * l2 * float(sum(np.sum(W * W) for W in network.weights))


def loss(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    activation: str = "relu",
    l2: float = 0.0,
    output: str = "softmax",
) -> float:
    """Mean cross-entropy of the network on (X, Y) plus the L2 penalty on the weights."""
    fwd = forward(network, X, activation, output)
    Y = check_targets(Y, X.shape[0], network.n_out, output)
    return output_loss(fwd.Z[-1], Y, output) + l2_penalty(network, l2)


def backward(
    network: Network,
    fwd: Forward,
    X: np.ndarray,
    Y: np.ndarray,
    activation: str = "relu",
    l2: float = 0.0,
    output: str = "softmax",
) -> Network:
    """Gradients of :func:`loss`: per-array means over rows, plus ``l2 * W`` on the weights."""
    _check_batch(network, X)
    _check_activation(activation)
    Y = check_targets(Y, X.shape[0], network.n_out, output)
    dtype = network.dtype
    inv_m = dtype.type(1.0 / X.shape[0])
    grads: list[np.ndarray] = [None] * len(network)  # type: ignore[list-item]
    dZ = output_delta(fwd.A[-1], Y, output)
    for layer in reversed(range(len(network) // 2)):
        W = network[2 * layer]
        A_prev = X if layer == 0 else fwd.A[layer - 1]
        dW = inv_m * (dZ.T @ A_prev)
        if l2:
            dW = dW + dtype.type(l2) * W
        grads[2 * layer] = dW
        grads[2 * layer + 1] = inv_m * dZ.sum(axis=0)
        if layer > 0:
            dZ = (dZ @ W) * activation_grad(activation, fwd.Z[layer - 1], fwd.A[layer - 1])
    return Network(grads)


def predict_proba(
    network: Network, X: np.ndarray, activation: str = "relu", output: str = "softmax"
) -> np.ndarray:
    """X: (m, n_in) -> class probabilities (m, n_out)."""
    return forward(network, X, activation, output).A[-1]


def predict(
    network: Network, X: np.ndarray, activation: str = "relu", output: str = "softmax"
) -> np.ndarray:
    """X: (m, n_in) -> most probable class per row (m,), or the (m, n_out) indicator."""
    return predictions(predict_proba(network, X, activation, output), output)


def network_epoch(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    learning_rate: float,
    state: OptimizerState,
    optimizer: OptimizerConfig,
    l2: float = 0.0,
    activation: str = "relu",
    output: str = "softmax",
) -> tuple[Network, float, int]:
    """One epoch over consecutive ``batch_size`` slices of ``order``.

    The twin of :func:`.training.minibatch_epoch` for any depth.

    X: (m, n_in) float in the network's dtype. Each batch's cross-entropy (without the L2 term)
    and correct count are measured before its update. Returns (new network, loss summed over
    samples, correct predictions).
    """
    _check_batch(network, X)
    _check_activation(activation)
    batch_size = _positive_int(batch_size, "batch_size")
    loss_sum = 0.0
    correct = 0
    whole = batch_size >= order.size == X.shape[0] and np.array_equal(order, np.arange(order.size))
    for start in range(0, order.size, batch_size):
        rows = order[start : start + batch_size]
        Xb, Yb = (X, Y) if whole else (X[rows], Y[rows])
        fwd = forward(network, Xb, activation, output)
        loss_sum += output_loss(fwd.Z[-1], Yb, output) * rows.size
        correct += correct_count(fwd.A[-1], Yb, output)
        grads = backward(network, fwd, Xb, Yb, activation, l2, output)
        network = optimizer_step(network, grads, state, learning_rate, optimizer)
    return network, loss_sum, correct
