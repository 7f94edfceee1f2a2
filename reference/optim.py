"""Optimizers (sgd, momentum, adam) and learning-rate schedules, in NumPy.

The Numba twin in ``kernels/_jit_seed.py`` applies exactly these update rules to the same state
arrays, so one :class:`OptimizerState` can be handed to either side.

* sgd:       ``p -= lr * g``
* momentum:  ``v = mu * v + g; p -= lr * v``                          (PyTorch's form)
  with ``nesterov=True``: ``v = mu * v + g; p -= lr * (g + mu * v)``  (PyTorch's Nesterov)
* adam:      ``m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
               p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "step", "cosine")
# Any flat tuple of arrays: Params, or network.Network for deeper stacks.
ArraysT = TypeVar("ArraysT", bound=tuple)


@dataclass(frozen=True)
class OptimizerConfig:
    """An optimizer, ``"sgd"``, ``"momentum"`` or ``"adam"``, and its coefficients."""

    name: str = "sgd"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    nesterov: bool = False  # momentum only

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.name!r}")
        if self.nesterov and self.name != "momentum":
            raise ValueError(f"nesterov=True needs optimizer 'momentum', got {self.name!r}")
        for attr in ("momentum", "beta1", "beta2"):
            value = getattr(self, attr)
            if not 0 <= value < 1:
                raise ValueError(f"{attr} must be in [0, 1), got {value!r}")
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {self.eps!r}")

    @property
    def code(self) -> int:
        """Small integer the jitted kernels switch on (3: momentum with Nesterov)."""
        return 3 if self.nesterov else OPTIMIZERS.index(self.name)


@dataclass
class OptimizerState:
    """Per-parameter buffers, updated in place: ``first`` is momentum's velocity or Adam's m.

    The buffers have the params' type (``Params`` or ``Network``), shapes and dtype.
    """

    first: tuple[np.ndarray, ...]
    second: tuple[np.ndarray, ...]
    t: int = 0


def arrays_like(template: ArraysT, arrays) -> ArraysT:
    """``arrays`` in the container type of ``template``: Params(*arrays) or Network(arrays)."""
    if hasattr(template, "_fields"):  # a NamedTuple such as Params
        return type(template)(*arrays)
    return type(template)(arrays)


def init_state(params: ArraysT) -> OptimizerState:
    """Zeroed buffers for ``params``, any flat tuple of arrays (Params, Network)."""
    zeros = arrays_like(params, [np.zeros_like(p) for p in params])
    return OptimizerState(zeros, arrays_like(params, [np.zeros_like(p) for p in params]), 0)


def optimizer_step(
    params: ArraysT, grads: ArraysT, state: OptimizerState, lr: float, config: OptimizerConfig
) -> ArraysT:
    """One update of every parameter; returns new arrays in the params' type (Params, Network).

    ``state`` is advanced in place.
    """
    dtype = params[0].dtype.type
    state.t += 1
    new = []
    for p, g, m, v in zip(params, grads, state.first, state.second, strict=True):
        if config.name == "sgd":
            new.append(p - dtype(lr) * g)
        elif config.name == "momentum":
            m *= dtype(config.momentum)
            m += g
            step = g + dtype(config.momentum) * m if config.nesterov else m
            new.append(p - dtype(lr) * step)
        else:
            b1, b2 = config.beta1, config.beta2
            m *= dtype(b1)
            m += dtype(1 - b1) * g
            v *= dtype(b2)
            v += dtype(1 - b2) * (g * g)
            m_hat = m / dtype(1 - b1**state.t)
            v_hat = v / dtype(1 - b2**state.t)
            new.append(p - dtype(lr) * m_hat / (np.sqrt(v_hat) + dtype(config.eps)))
    return arrays_like(params, new)


def learning_rate_at(
    epoch: int, base: float, schedule: str = "constant", epochs: int = 1, *, gamma: float = 0.5
) -> float:
    """Learning rate for ``epoch`` (0-based) of ``epochs``.

    constant: ``base``; step: ``base * gamma ** (epoch // max(1, epochs // 4))`` (four steps);
    cosine: half a cosine from ``base`` down towards 0.
    """
    if schedule == "constant":
        return base
    if schedule == "step":
        return base * gamma ** (epoch // max(1, epochs // 4))
    if schedule == "cosine":
        return 0.5 * base * (1 + math.cos(math.pi * epoch / max(1, epochs)))
    raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {schedule!r}")
