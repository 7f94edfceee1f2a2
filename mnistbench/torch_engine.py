"""PyTorch (CPU) versions of the seed's steps, for side-by-side comparison only.

Same math as the reference: manual forward/backward, or autograd with ``F.cross_entropy``.
Imported lazily: PyTorch is optional and never needed by the package or its tests.
The step functions follow the registry contract of ``bench/variants.py`` (numpy params in and out).
"""

from __future__ import annotations

import importlib.util
from functools import partial

import numpy as np

from mnistbench.kernels.checks import check_labels, check_params, check_X
from mnistbench.reference.model import Params
from mnistbench.reference.training import as_float


def available() -> bool:
    """Whether PyTorch is installed."""
    return importlib.util.find_spec("torch") is not None


def _setup(params: Params, X: np.ndarray, Y: np.ndarray):
    import torch

    params = check_params(params)
    X = check_X(X, params.n_in, params.dtype)
    Y = check_labels(Y, X.shape[0], params.W2.shape[0])
    X_t = torch.from_numpy(as_float(X, params.dtype))
    Y_t = torch.from_numpy(Y)
    one_hot = torch.nn.functional.one_hot(Y_t, params.W2.shape[0]).to(X_t.dtype)
    return torch, X_t, Y_t, one_hot


def _tensors(torch, params: Params):
    return [torch.from_numpy(np.array(p, copy=True)) for p in params]


def _manual_grads(torch, W1, b1, W2, b2, X, Y, one_hot):
    """Mean cross-entropy and its gradients, written out like the reference's backward_prop."""
    Z1 = torch.addmm(b1, X, W1.T)
    A1 = torch.relu(Z1)
    Z2 = torch.addmm(b2, A1, W2.T)
    log_probs = torch.log_softmax(Z2, dim=1)
    loss = -log_probs.gather(1, Y[:, None]).mean()
    inv_m = 1.0 / X.shape[0]
    dZ2 = (log_probs.exp() - one_hot) * inv_m
    dW2 = dZ2.T @ A1
    db2 = dZ2.sum(0)
    dZ1 = (dZ2 @ W2) * (Z1 > 0)
    dW1 = dZ1.T @ X
    db1 = dZ1.sum(0)
    return loss, (dW1, db1, dW2, db2)


def _autograd_grads(torch, W1, b1, W2, b2, X, Y, one_hot):
    tensors = [t.requires_grad_() for t in (W1, b1, W2, b2)]
    Z2 = torch.relu(X @ W1.T + b1) @ W2.T + b2
    loss = torch.nn.functional.cross_entropy(Z2, Y)
    loss.backward()
    return loss.detach(), tuple(t.grad for t in tensors)


def _grads_function(torch, autograd: bool, compiled: bool):
    """The gradient function, wrapped in ``torch.compile`` when ``compiled`` (manual grads)."""
    if not compiled:
        return _autograd_grads if autograd else _manual_grads
    compiled_grads = torch.compile(partial(_manual_grads, torch))
    return lambda _torch, *tensors: compiled_grads(*tensors)


def full_batch(
    params: Params, X: np.ndarray, Y: np.ndarray, *, autograd: bool = False, compiled: bool = False
):
    """Registry factory: step(params, learning_rate) -> (new params, loss).

    ``compiled`` runs the gradients through ``torch.compile``.
    """
    torch, X_t, Y_t, one_hot = _setup(params, X, Y)
    grads_of = _grads_function(torch, autograd, compiled)

    def step(params: Params, learning_rate: float) -> tuple[Params, float]:
        W = _tensors(torch, params)
        loss, grads = grads_of(torch, *W, X_t, Y_t, one_hot)
        with torch.no_grad():
            new = [(w - learning_rate * g).numpy() for w, g in zip(W, grads, strict=True)]
        return Params(*new), float(loss)

    return step


def minibatch(
    params: Params, X: np.ndarray, Y: np.ndarray, *, autograd: bool = False, compiled: bool = False
):
    """Registry factory: epoch(params, order, batch_size, learning_rate) -> (params, mean loss)."""
    torch, X_t, Y_t, one_hot = _setup(params, X, Y)
    grads_of = _grads_function(torch, autograd, compiled)

    def epoch(params: Params, order: np.ndarray, batch_size: int, learning_rate: float):
        W = _tensors(torch, params)
        order_t = torch.from_numpy(np.asarray(order, dtype=np.int64))
        loss_sum = 0.0
        for start in range(0, len(order), batch_size):
            rows = order_t[start : start + batch_size]
            loss, grads = grads_of(torch, *W, X_t[rows], Y_t[rows], one_hot[rows])
            loss_sum += float(loss) * len(rows)
            with torch.no_grad():
                W = [(w - learning_rate * g).detach() for w, g in zip(W, grads, strict=True)]
        return Params(*(w.numpy() for w in W)), loss_sum / len(order)

    return epoch


_TORCH_ACTIVATIONS = {
    "relu": lambda nn: nn.ReLU(),
    "leaky_relu": lambda nn: nn.LeakyReLU(0.01),
    "tanh": lambda nn: nn.Tanh(),
    "sigmoid": lambda nn: nn.Sigmoid(),
    "gelu": lambda nn: nn.GELU(),
}


def sequential(weights, activation: str = "relu"):
    """``nn.Sequential`` of Linear layers with ``activation`` between them.

    It holds copies of ``weights`` (a flat (W1, b1, ..., WL, bL) tuple; W_l is (units_out, units_in)
    as in torch).
    """
    import torch
    from torch import nn

    arrays = [np.asarray(a) for a in weights]
    layers = []
    for index in range(0, len(arrays), 2):
        W, b = arrays[index], arrays[index + 1]
        linear = nn.Linear(W.shape[1], W.shape[0], dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if index + 2 < len(arrays):
            layers.append(_TORCH_ACTIVATIONS[activation](nn))
    return nn.Sequential(*layers)


def training_loop(
    weights,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    activation: str = "relu",
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    compiled: bool = False,
):
    """The loop people write: ``nn.Sequential``, ``torch.optim``, ``F.cross_entropy``.

    ``compiled``: the model wrapped in ``torch.compile`` (PyTorch's tutorial idiom).

    Returns ``epoch(order, batch_size) -> mean loss`` running one epoch over the batches
    ``order[i:i + batch_size]`` (the same batches the other engines see); the model and the
    optimizer state persist across calls, as in a real training run. ``model`` and
    ``predict(X)`` are attached to the function. uint8 X is divided by 255 once, up front.
    """
    import torch
    import torch.nn.functional as F

    model = sequential(weights, activation)
    dtype = np.asarray(weights[0]).dtype
    X_t = torch.from_numpy(as_float(X, dtype))
    Y_t = torch.from_numpy(np.asarray(Y, dtype=np.int64))
    make = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    opt = make(model.parameters(), lr=learning_rate)
    forward = torch.compile(model) if compiled else model

    def epoch(order: np.ndarray, batch_size: int) -> float:
        model.train()
        order_t = torch.from_numpy(np.asarray(order, dtype=np.int64))
        total = torch.zeros((), dtype=X_t.dtype)
        for start in range(0, len(order_t), batch_size):
            rows = order_t[start : start + batch_size]
            loss = F.cross_entropy(forward(X_t[rows]), Y_t[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach() * len(rows)
        return float(total) / len(order_t)

    def predict(X_new: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return forward(torch.from_numpy(as_float(X_new, dtype))).argmax(1).numpy()

    epoch.model, epoch.predict = model, predict  # type: ignore[attr-defined]
    return epoch
