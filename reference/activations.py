"""The hidden layers' activations of :mod:`.network`, by name, with their derivatives.

The names are scikit-learn's (relu, tanh, logistic, identity) beside ours (leaky_relu, gelu);
a kernel's activation code is the position in :data:`ACTIVATIONS`. :mod:`.network` re-exports
everything here.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

# scikit-learn's names (logistic, identity) beside ours; a kernel's activation code is the
# position here. ACTIVATION_ALIASES: older names still accepted everywhere.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "logistic", "gelu", "identity")
ACTIVATION_ALIASES = {"sigmoid": "logistic"}
LEAKY_RELU_SLOPE = 0.01
_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def activation_name(name: str) -> str:
    """``name`` in :data:`ACTIVATIONS`, an alias resolved ("sigmoid"), else ValueError."""
    name = ACTIVATION_ALIASES.get(name, name) if isinstance(name, str) else name
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {ACTIVATIONS} (or an alias: "
            f"{sorted(ACTIVATION_ALIASES)}), got {name!r}"
        )
    return name


def activate(name: str, Z: np.ndarray) -> np.ndarray:
    """Elementwise hidden activation of Z (any shape), in Z's dtype."""
    name = activation_name(name)
    if name == "identity":
        return Z.copy()
    if name == "relu":
        return np.maximum(Z, 0)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, Z.dtype.type(LEAKY_RELU_SLOPE) * Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "logistic":
        # exp of -|Z| only: no overflow for any finite Z.
        E = np.exp(-np.abs(Z))
        return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))
    return Z * 0.5 * (1 + erf(Z / _SQRT2))


def activation_grad(name: str, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dA/dZ given Z and A = activate(name, Z); at Z == 0 relu's is 0, leaky_relu's the slope."""
    name = activation_name(name)
    dtype = Z.dtype.type
    if name == "identity":
        return np.ones_like(Z)
    if name == "relu":
        return (Z > 0).astype(Z.dtype)
    if name == "leaky_relu":
        return np.where(Z > 0, dtype(1), dtype(LEAKY_RELU_SLOPE))
    if name == "tanh":
        return 1 - A * A
    if name == "logistic":
        return A * (1 - A)
    # d/dZ [Z Phi(Z)] = Phi(Z) + Z phi(Z)
    return 0.5 * (1 + erf(Z / _SQRT2)) + Z * np.exp(-0.5 * Z * Z) / _SQRT_2PI
