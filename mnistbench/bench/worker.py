"""``python -m mnistbench.bench.worker SYSTEM THREADS``: one system's timed cases.

The worker is a process of its own (see :mod:`.isolated`). Reads pickled requests on stdin, answers
on the original stdout; everything the libraries print goes to stderr, so it cannot corrupt the
answers.

Requests: ``("build", key, "module:function", kwargs)`` -> the factory's ``(run, info)``; then
``run()`` twice untimed (the first call's seconds are reported: for the compiled peers it is
their compilation). ``("run", key, warmup)`` -> wall and CPU seconds of one ``run()`` (a short
case first runs back to back for ``warmup`` seconds: :data:`WARM_BELOW`). ``("facts",)``
-> pid, CPU seconds so far, thread variables, and which libraries (and Numba threading layer)
this process has loaded. ``("exit",)``.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import sys
import time
import traceback

# A case whose warm call took less than this is warmed up right before each timed call: it runs
# back to back for the parent's pause instead of the pause being slept, and then the timed call
# follows at once. So it is timed as it runs inside a training loop: threads awake, data as warm
# as the previous step left it, and the previous case's pools (in other processes) done spinning.
# After a slept pause, waking idle virtual CPUs and the 32 MB seed input falling out of the
# last-level cache made a 10 ms step measure 10-19 ms from round to round and +-40% between
# processes (against 10-11.5 ms back to back). Longer cases carry such costs in under 2%.
WARM_BELOW = 0.25
THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "XLA_FLAGS",
)
LIBRARIES = ("numba", "torch", "jax", "sklearn", "scipy.ndimage")


def numba_threading_layer() -> str | None:
    """The threading layer Numba started in this process, or None if it never started one."""
    if "numba" not in sys.modules:
        return None
    from numba.np.ufunc import parallel

    if not parallel._is_initialized:
        return None
    import numba

    return numba.threading_layer()


def kernel_target() -> dict | None:
    """The CPU variant our kernels were compiled as, if this process loaded them."""
    module = sys.modules.get("mnistbench.kernels._cpu")
    return module.target().as_dict() if module is not None else None


def facts(system: str, threads: int) -> dict:
    """What this worker process has loaded (libraries and versions), its pid and thread settings."""
    loaded = {}
    for name in LIBRARIES:
        module = sys.modules.get(name)
        if module is not None:
            top = sys.modules[name.split(".")[0]]
            loaded[name] = getattr(top, "__version__", "?")
    torch_threads = None
    if "torch" in sys.modules:
        torch_threads = sys.modules["torch"].get_num_threads()
    return {
        "system": system,
        "pid": os.getpid(),
        "cpu_s": time.process_time(),
        "threads": threads,
        "environment": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
        "libraries": loaded,
        "numba_threading_layer": numba_threading_layer(),
        "kernel_target": kernel_target(),
        "torch_threads": torch_threads,
    }


def _pin(system: str, threads: int) -> None:
    """Set the thread counts the libraries read at run time rather than from the environment.

    Only the ``numba`` worker touches Numba: ``numba.set_num_threads`` would start its thread pool.
    """
    if system == "numba":
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def serve(system: str, threads: int, requests, answers) -> None:
    """Answer the parent's pickled ``requests`` until it asks to exit or closes the pipe."""
    cases = {}

    def answer(status, payload) -> None:
        pickle.dump((status, payload), answers)
        answers.flush()

    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        kind = request[0]
        if kind == "exit":
            return
        try:
            if kind == "build":
                _, key, factory, kwargs = request
                module, name = factory.split(":")
                started = time.perf_counter()
                run, info = getattr(importlib.import_module(module), name)(**kwargs)
                _pin(system, threads)
                built = time.perf_counter()
                run()  # JIT / torch.compile / jax.jit compilation, caches, thread pools
                warmed = time.perf_counter()
                run()  # a second untimed call: recompilations on a second shape, allocator
                second = time.perf_counter() - warmed
                cases[key] = (run, second < WARM_BELOW)
                answer(
                    "ok",
                    {
                        "short": second < WARM_BELOW,
                        "build_s": built - started,
                        "warmup_s": warmed - built,
                        "second_s": second,
                        "info": info,
                    },
                )
            elif kind == "run":
                run, short = cases[request[1]]
                warmup = request[2] if len(request) > 2 else 0.0
                if short and warmup > 0:
                    until = time.perf_counter() + warmup
                    run()
                    while time.perf_counter() < until:
                        run()
                cpu, started = time.process_time(), time.perf_counter()
                result = run()
                wall = time.perf_counter() - started
                answer(
                    "ok",
                    {
                        "wall_s": wall,
                        "cpu_s": time.process_time() - cpu,
                        "result": result if isinstance(result, (int, float)) else None,
                    },
                )
            elif kind == "facts":
                answer("ok", facts(system, threads))
            else:
                answer("error", f"unknown request {kind!r}")
        except Exception as error:  # the parent reports it with the case's name
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            print(traceback.format_exc(), file=sys.stderr)
            answer("error", f"{system} worker: {detail}")


def main() -> None:
    """Entry point of a worker process: ``python -m mnistbench.bench.worker SYSTEM THREADS``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it closes our stdin
    system, threads = sys.argv[1], int(sys.argv[2])
    _pin(system, threads)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # library chatter goes to stderr
    serve(system, threads, sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
