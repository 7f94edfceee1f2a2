"""The same inputs give the same bits, call after call, wherever the heap puts the buffers.

Kernels are compiled with "reassoc", so LLVM may sum in vector order; where one loop both
stores to an array and sums, it vectorizes that loop behind a run-time check that the arrays do
not overlap and runs the scalar loop when the check fails. The check reads addresses only, so
the heap's layout chose the summation order: a Fortran-order X (copied to a fresh buffer) gave
gradients a few ulps away from the C-order call in CI (AMD EPYC, 2 threads), and with one thread
the first ``fused_gradients`` call of a process differed from every later one.

Two guards: the kernels' source has no innermost loop that both sums into a scalar and stores
to an array (the pattern behind it), and the public entry points return identical bits across
200 calls with the heap reshuffled between them.
"""

from __future__ import annotations

import ast
import ctypes
from pathlib import Path

import numpy as np
import pytest

from conftest import digit_like
from mnistbench import kernels
from mnistbench.kernels import network as kn
from mnistbench.reference import init_params
from mnistbench.reference import network as rn
from mnistbench.reference.optim import OptimizerConfig, init_state

KERNELS = Path(__file__).resolve().parents[1] / "kernels"
CALLS = 200


def summing_loops_that_store(path: Path) -> list[str]:
    """``file:line`` of innermost ``for`` loops with both ``name += ...`` and ``a[...] = ...``."""
    found = []
    for loop in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(loop, ast.For):
            continue
        inner = list(ast.walk(loop))[1:]
        if any(isinstance(n, ast.For) for n in inner):
            continue
        sums = [n for n in inner if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)]
        targets = [t for n in inner if isinstance(n, ast.Assign) for t in n.targets]
        targets += [n.target for n in inner if isinstance(n, ast.AugAssign)]
        if sums and any(isinstance(t, ast.Subscript) for t in targets):
            found.append(f"{path.name}:{loop.lineno}")
    return found


def test_the_scan_finds_the_pattern(tmp_path):
    source = tmp_path / "k.py"
    source.write_text(
        "def f(z, e):\n"
        "    t = 0.0\n"
        "    for j in range(z.shape[0]):\n"
        "        z[j] = e[j]\n"
        "        t += z[j]\n"
        "    for j in range(z.shape[0]):\n"
        "        t += z[j]\n"
    )
    assert summing_loops_that_store(source) == ["k.py:3"]


def test_no_kernel_loop_both_sums_and_stores():
    found = [hit for path in sorted(KERNELS.glob("*.py")) for hit in summing_loops_that_store(path)]
    assert found == [], "sum in a loop of its own (kernels/_jit_rows.sum_row): " + ", ".join(found)


def _calls_give_one_result(call) -> None:
    """``call()`` CALLS times, with small heap blocks taken and freed in between; one result.

    The kernels' scratch arrays come from malloc (Numba's allocator), so the blocks are too.
    """
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    first = [np.asarray(leaf).tobytes() for leaf in call()]
    held = []
    try:
        for i in range(CALLS):
            held.append(libc.malloc(16 + (i * 40) % 400))
            held.append(libc.malloc(8 + 8 * (i % 5000)))
            if i % 3 == 0:
                libc.free(held.pop(len(held) // 2))
            got = [np.asarray(leaf).tobytes() for leaf in call()]
            assert got == first, f"call {i + 2} gave other bits than call 1"
    finally:
        for block in held:
            libc.free(block)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_seed_kernels_repeat_their_bits(dtype):
    params = init_params(hidden=10, seed=0, dtype=dtype)
    X, Y = digit_like(50, seed=1)

    def call():
        grads, loss, accuracy = kernels.fused_gradients(params, X, Y)
        return [*grads, loss, accuracy, *kernels.forward_prop(params, X)]

    _calls_give_one_result(call)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_layer_stack_kernels_repeat_their_bits(dtype):
    network = rn.init_network((784, 12, 10), activation="relu", seed=0, dtype=dtype)
    X, Y = digit_like(50, seed=1)

    order = np.arange(50)
    adam = OptimizerConfig("adam")

    def call():
        state = init_state(network)
        new, loss_sum, correct = kn.network_epoch(network, X, Y, order, 16, 1e-2, state, adam)
        return [*kn.forward(network, X).A, *new, loss_sum, correct, *state.first, *state.second]

    _calls_give_one_result(call)
