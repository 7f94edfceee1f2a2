"""JAX (CPU) peers: the training loop a JAX user writes, for side-by-side timing only.

Parameters are a pytree (a list of arrays, ``W`` as (units_out, units_in) like torch and our
``Network``); the step is ``jax.value_and_grad`` of the mean cross-entropy
(``optax.softmax_cross_entropy_with_integer_labels``) followed by an ``optax`` update, and an
epoch is one ``jax.jit``-compiled ``lax.scan`` of that step over the whole batches, the remainder
batch stepped once after it (its own shape, its own compilation). Imported lazily: JAX and optax
are optional (the ``peers`` extra).
"""

from __future__ import annotations

import importlib.util
from functools import partial

import numpy as np

from mnistbench.reference.model import Params
from mnistbench.reference.training import as_float

DTYPES = ("float32",)  # JAX's default precision; float64 would need the global jax_enable_x64


def available() -> bool:
    """Whether JAX and optax are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("jax", "optax"))


def _activation(name: str):
    import jax

    return {
        "relu": jax.nn.relu,
        "leaky_relu": partial(jax.nn.leaky_relu, negative_slope=0.01),
        "tanh": jax.numpy.tanh,
        "sigmoid": jax.nn.sigmoid,
        "logistic": jax.nn.sigmoid,
        "gelu": partial(jax.nn.gelu, approximate=False),
    }[name]


def _loss_fn(activation: str):
    import optax

    act = _activation(activation)

    def loss(params, X, Y):
        A = X
        for layer in range(0, len(params) - 2, 2):
            A = act(A @ params[layer].T + params[layer + 1])
        logits = A @ params[-2].T + params[-1]
        return optax.softmax_cross_entropy_with_integer_labels(logits, Y).mean()

    return loss


def gradients(weights, X: np.ndarray, Y: np.ndarray, activation: str = "relu") -> tuple:
    """(loss, gradients as numpy arrays in ``weights``' order) of the mean cross-entropy.

    What the checks compare with the reference's ``backward`` before anything is timed.
    """
    import jax
    import jax.numpy as jnp

    dtype = np.asarray(weights[0]).dtype
    params = [jnp.asarray(np.asarray(w)) for w in weights]
    X_j = jnp.asarray(as_float(X, dtype))
    loss, grads = jax.value_and_grad(_loss_fn(activation))(params, X_j, jnp.asarray(Y))
    return float(loss), tuple(np.asarray(g) for g in grads)


def training_loop(
    weights,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    activation: str = "relu",
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
):
    """``epoch(order, batch_size) -> mean loss``: one epoch over the batches of ``order``.

    The batches are ``order[i:i + batch_size]`` (the same batches our engines see), parameters and
    optimizer state persisting across calls. ``params()`` returns the current weights as numpy
    arrays.
    """
    import jax
    import jax.numpy as jnp
    import optax

    dtype = np.asarray(weights[0]).dtype
    opt = {"adam": optax.adam, "sgd": optax.sgd}[optimizer](learning_rate)
    loss_fn = _loss_fn(activation)

    def step(carry, X_batch, Y_batch):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, X_batch, Y_batch)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @partial(jax.jit, static_argnums=(4,), donate_argnums=(0,))
    def run_epoch(carry, X_all, Y_all, order, batch_size):
        whole = order.shape[0] // batch_size * batch_size
        batches = order[:whole].reshape(-1, batch_size)

        def body(carry, rows):
            return step(carry, X_all[rows], Y_all[rows])

        carry, losses = jax.lax.scan(body, carry, batches)
        total = losses.sum() * batch_size
        if whole < order.shape[0]:
            rows = order[whole:]
            carry, loss = step(carry, X_all[rows], Y_all[rows])
            total = total + loss * rows.shape[0]
        return carry, total / order.shape[0]

    params = [jnp.asarray(np.array(w, copy=True)) for w in weights]
    state = {"carry": (params, opt.init(params))}
    X_all = jnp.asarray(as_float(X, dtype))
    Y_all = jnp.asarray(np.asarray(Y, dtype=np.int32))

    def epoch(order: np.ndarray, batch_size: int) -> float:
        order_j = jnp.asarray(np.asarray(order, dtype=np.int32))
        state["carry"], mean_loss = run_epoch(state["carry"], X_all, Y_all, order_j, batch_size)
        return float(mean_loss)

    epoch.params = lambda: [np.asarray(p) for p in state["carry"][0]]  # type: ignore[attr-defined]
    return epoch


def _setup(params: Params, X: np.ndarray, Y: np.ndarray):
    import jax.numpy as jnp

    from mnistbench.kernels.checks import check_labels, check_params, check_X

    params = check_params(params)
    if params.dtype.name not in DTYPES:
        raise ValueError(f"the JAX peer runs float32 only (JAX's default), got {params.dtype}")
    X = check_X(X, params.n_in, params.dtype)
    Y = check_labels(Y, X.shape[0], params.W2.shape[0])
    return jnp.asarray(as_float(X, params.dtype)), jnp.asarray(Y.astype(np.int32))


def _sgd_step(loss_fn):
    import jax

    @jax.jit
    def step(params, X, Y, learning_rate):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, Y)
        return [p - learning_rate * g for p, g in zip(params, grads, strict=True)], loss

    return step


def full_batch(params: Params, X: np.ndarray, Y: np.ndarray):
    """Registry factory (seed section): step(params, learning_rate) -> (new params, loss).

    A jitted ``value_and_grad`` plus the gradient-descent update.
    """
    import jax.numpy as jnp

    X_j, Y_j = _setup(params, X, Y)
    step = _sgd_step(_loss_fn("relu"))

    def run(params: Params, learning_rate: float) -> tuple[Params, float]:
        rate = jnp.asarray(learning_rate, dtype=X_j.dtype)
        new, loss = step([jnp.asarray(p) for p in params], X_j, Y_j, rate)
        return Params(*(np.asarray(p) for p in new)), float(loss)

    return run


def minibatch(params: Params, X: np.ndarray, Y: np.ndarray):
    """Registry factory (seed section): plain-SGD epochs, each a ``lax.scan`` over whole batches.

    Returns epoch(params, order, batch_size, learning_rate) -> (params, mean loss).
    """
    import jax
    import jax.numpy as jnp

    X_j, Y_j = _setup(params, X, Y)
    loss_fn = _loss_fn("relu")

    def sgd(carry, X_batch, Y_batch):
        params, rate = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, X_batch, Y_batch)
        return ([p - rate * g for p, g in zip(params, grads, strict=True)], rate), loss

    @partial(jax.jit, static_argnums=(5,))
    def run_epoch(params, rate, X_all, Y_all, order, batch_size):
        whole = order.shape[0] // batch_size * batch_size
        carry, losses = jax.lax.scan(
            lambda carry, rows: sgd(carry, X_all[rows], Y_all[rows]),
            (params, rate),
            order[:whole].reshape(-1, batch_size),
        )
        total = losses.sum() * batch_size
        if whole < order.shape[0]:
            rows = order[whole:]
            carry, loss = sgd(carry, X_all[rows], Y_all[rows])
            total = total + loss * rows.shape[0]
        return carry[0], total / order.shape[0]

    def epoch(params: Params, order: np.ndarray, batch_size: int, learning_rate: float):
        rate = jnp.asarray(learning_rate, dtype=X_j.dtype)
        order_j = jnp.asarray(np.asarray(order, dtype=np.int32))
        weights = [jnp.asarray(p) for p in params]
        new, mean_loss = run_epoch(weights, rate, X_j, Y_j, order_j, batch_size)
        return Params(*(np.asarray(p) for p in new)), float(mean_loss)

    return epoch
