"""Where a float32 gradient may sit away from the float64 oracle at a ReLU kink, and by how much.

The bound the bench's peer check (and any comparison of independently computed gradients) adds to
its elementwise tolerance.
"""

from __future__ import annotations

import numpy as np

from .model import one_hot
from .network import LEAKY_RELU_SLOPE, Network, _check_labels, activation_grad, forward

KINKED = frozenset({"relu", "leaky_relu"})  # activations whose derivative jumps at 0


def kink_envelope(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    activation: str = "relu",
    unit_roundoff: float = 2.0**-24,
) -> Network:
    """How far :func:`backward`'s gradients may move under rounding of the pre-activations.

    The pre-activations are computed with rounding error ``unit_roundoff`` (float32's 2**-24 by
    default) on a kinked activation.

    relu/leaky_relu's derivative jumps at 0, so where a pre-activation lies within rounding of 0
    another correct implementation (other summation order, FMA, vector width) may take the other
    side of the kink, and that row's whole contribution to the unit's gradients changes: no
    elementwise tolerance in ulps can cover it. A pre-activation ``Z = A_prev @ w + b`` of fan-in
    ``n`` carries at most ``gamma_n (|A_prev| @ |w| + |b|)`` of rounding (``gamma_n = n u /
    (1 - n u)``, Higham's bound for a dot product); entries within that of 0 are *ambiguous*.
    To first order, the gradients move by at most (all arrays ``(m, units)``):

    * ``E_l = |dA_l * jump_l| * ambiguous_l`` at the top hidden layer, where ``jump_l`` is the
      derivative's jump (1 for relu, 1 - slope for leaky_relu);
    * ``E_{l-1} = (E_l @ |W_l|) * |f'(Z_{l-1})| + |dA_{l-1} * jump| * ambiguous_{l-1}`` below it;
    * ``|dW_l| <= E_l.T @ |A_{l-1}| / m`` and ``|db_l| <= sum(E_l) / m``.

    Returned as a Network of these bounds (zeros for smooth activations and the output layer).
    X: (m, n_in) floats; evaluated in float64.
    """
    X = np.asarray(X, dtype=np.float64)
    network = Network([np.asarray(a, dtype=np.float64) for a in network])
    layers = len(network) // 2
    bounds = [np.zeros_like(a) for a in network]
    if activation not in KINKED or layers < 2:
        return Network(bounds)
    fwd = forward(network, X, activation)
    Y = _check_labels(Y, X.shape[0], network.n_out)
    m = X.shape[0]
    jump = 1.0 if activation == "relu" else 1.0 - LEAKY_RELU_SLOPE
    dZ = fwd.A[-1] - one_hot(Y, network.n_out, np.float64)
    error = np.zeros_like(dZ)  # bound on the change of dZ of the layer above
    for layer in reversed(range(layers - 1)):  # hidden layers, top down
        W_above = network[2 * (layer + 1)]
        W, b = network[2 * layer], network[2 * layer + 1]
        A_prev = X if layer == 0 else fwd.A[layer - 1]
        Z = fwd.Z[layer]
        n = A_prev.shape[1]
        gamma = n * unit_roundoff / (1 - n * unit_roundoff)
        ambiguous = np.abs(Z) <= gamma * (np.abs(A_prev) @ np.abs(W).T + np.abs(b))
        dA = dZ @ W_above
        grad = activation_grad(activation, Z, fwd.A[layer])
        error = (error @ np.abs(W_above)) * np.abs(grad) + np.abs(dA) * jump * ambiguous
        bounds[2 * layer] = error.T @ np.abs(A_prev) / m
        bounds[2 * layer + 1] = error.sum(axis=0) / m
        dZ = dA * grad
    return Network(bounds)
