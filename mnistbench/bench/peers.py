"""The peer loops' check before they are timed (:func:`check_peer_gradients`).

Their loss and gradients on the first rows are compared against the reference's.
"""

from __future__ import annotations

import numpy as np

from mnistbench.reference.training import as_float


def peer_gradients(engine: str, start, X, y) -> tuple[float, tuple]:
    """(loss, gradients) of ``engine``'s own loss on (X, y) at ``start``, numpy arrays."""
    if engine == "jax":
        from mnistbench.jax_engine import gradients

        return gradients(start, X, y)
    import torch
    import torch.nn.functional as F

    from mnistbench.torch_engine import sequential

    model = sequential(start)
    if engine == "torch_compile":
        model = torch.compile(model)
    loss = F.cross_entropy(
        model(torch.from_numpy(as_float(X, np.float32))),
        torch.from_numpy(np.asarray(y, dtype=np.int64)),
    )
    loss.backward()
    grads = []
    for layer in (m for m in sequential_layers(model) if isinstance(m, torch.nn.Linear)):
        assert layer.weight.grad is not None and layer.bias.grad is not None  # after backward()
        grads += [layer.weight.grad.numpy(), layer.bias.grad.numpy()]
    return float(loss.detach()), tuple(grads)


def sequential_layers(model):
    """The layers of an ``nn.Sequential``, through ``torch.compile``'s wrapper."""
    return list(getattr(model, "_orig_mod", model))


def check_peer_gradients(engine: str, start, X, y, rows: int) -> None:
    """Refuse to time ``engine`` unless its loss and gradients agree with the reference's.

    Both are taken on the first rows, the reference's evaluated in float64. The bound is the float32
    tolerance (``TOL``) plus the ReLU kink envelope
    (:func:`mnistbench.reference.kinks.kink_envelope`: where a pre-activation lies within float32
    rounding of 0, a correct implementation may take either side of the kink).
    """
    from mnistbench.reference.kinks import kink_envelope
    from mnistbench.reference.network import Network, backward, forward, loss
    from mnistbench.reference.tolerances import TOL

    rows = min(rows, len(y))
    X64 = as_float(X[:rows], np.float64)
    exact = Network([np.asarray(a, dtype=np.float64) for a in start])
    got_loss, got = peer_gradients(engine, start, X[:rows], y[:rows])
    want = backward(exact, forward(exact, X64), X64, y[:rows])
    envelope = kink_envelope(exact, X64, y[:rows])
    atol, rtol = TOL[np.dtype(np.float32)]
    if not abs(got_loss - loss(exact, X64, y[:rows])) <= atol + rtol * abs(got_loss):
        raise RuntimeError(
            f"refusing to time {engine} at hidden {sizes_text(start)}: its loss "
            "differs from the reference's"
        )
    for index, (a, b, kink) in enumerate(zip(got, want, envelope, strict=True)):
        if np.shape(a) != np.shape(b) or not np.all(
            np.abs(a - b) <= atol + rtol * np.abs(b) + kink
        ):
            raise RuntimeError(
                f"refusing to time {engine} at hidden {sizes_text(start)}: its "
                f"gradient {index} differs from the reference's"
            )


def sizes_text(network) -> str:
    """The hidden widths of ``network`` as the report writes them (``"512,256"``)."""
    return ",".join(map(str, network.sizes[1:-1]))
