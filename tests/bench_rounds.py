"""Recorded per-round bench samples for the ``--compare`` tests, and the slowed variant.

``python tests/bench_rounds.py RUNS`` times RUNS ``mnistbench bench`` runs, each in a fresh
process, of the full-batch variants on this machine (seed workload, 2 threads, 7 rounds) with one
extra variant registered, ``numba_fused_slow``: ``numba_fused`` doing 20% more work per step. It
writes every run's per-round samples and conditions (load average, the CPU share other processes
took) to ``tests/data/bench_rounds.json``, rewritten after every run. Before each run it waits up
to a minute for the 1-minute load average to fall below the bench's threads + 0.5, as a person
would on a machine other jobs share. The tests build comparisons from these samples, so they are
deterministic while the noise in them is this machine's.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from mnistbench.reference.workloads import SEED

FIXTURE = Path(__file__).parent / "data" / "bench_rounds.json"
THREADS = 2
THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
SLOW = "numba_fused_slow"


def slowed(factory, extra: float = 0.2):
    """A factory whose step runs ``factory``'s step on X, then again on the first ``extra``
    fraction of the rows: the same result, (1 + extra) times the work."""

    def make(params, X, Y):
        step = factory(params, X, Y)
        rows = max(1, int(len(Y) * extra))
        more = factory(params, X[:rows], Y[:rows])

        def slow_step(params, learning_rate):
            result = step(params, learning_rate)
            more(params, learning_rate)
            return result

        return slow_step

    return make


@contextmanager
def registered(name: str, factory, like: str):
    """``name`` in the registry for the duration, with the engine and dtypes of ``like``."""
    from mnistbench.bench import variants

    variants.FULL_BATCH[name] = factory
    variants.ENGINE_OF_VARIANT[name] = variants.ENGINE_OF_VARIANT[like]
    variants.DTYPES_OF_VARIANT[name] = variants.DTYPES_OF_VARIANT[like]
    try:
        yield
    finally:
        for table in (variants.FULL_BATCH, variants.ENGINE_OF_VARIANT, variants.DTYPES_OF_VARIANT):
            table.pop(name, None)


def wait_for_quiet(limit: float, timeout: float = 60.0) -> float:
    """Seconds waited until the 1-minute load average fell below ``limit`` (or the timeout)."""
    started = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - started < timeout:
        time.sleep(5)
    return time.monotonic() - started


NAMES = ["notebook", "reference", "numba_unfused", "numba_fused", SLOW]


def run_child(path: str, m: int, repeats: int) -> int:
    """One bench run in this (pinned) process, with the slowed variant registered."""
    from mnistbench.bench import main
    from mnistbench.bench.variants import FULL_BATCH

    argv = [
        "--threads",
        str(THREADS),
        "--m",
        str(m),
        "--repeats",
        str(repeats),
        "--no-minibatch",
        "--no-compile",
        "--engines",
        "numpy",
        "numba",
        "--variants",
        *NAMES,
        "--json",
        path,
    ]
    with registered(SLOW, slowed(FULL_BATCH["numba_fused"]), like="numba_fused"):
        return main(argv)


def record(runs: int, m: int = SEED.rows, repeats: int = 7, out: Path | None = None) -> dict:
    """Record ``runs`` bench runs, each in a fresh process as a user would run them; with ``out``,
    write what is recorded so far after each."""
    import json
    import subprocess
    import tempfile

    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(THREADS))}
    recorded = []
    for run in range(runs):
        waited = wait_for_quiet(THREADS + 0.5)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "run.json"
            child = [sys.executable, __file__, "--child", str(path), str(m), str(repeats)]
            subprocess.run(child, env=env, check=True, stdout=subprocess.DEVNULL)
            result = json.loads(path.read_text())
        recorded.append(
            {
                "conditions": {**result["conditions"], "waited_s": round(waited)},
                "rows": {
                    f"{r['name']}|{r['dtype']}|{r['input_dtype']}": r["times_ms"]
                    for r in result["full_batch"]
                },
            }
        )
        data = {
            "recorded": time.strftime("%Y-%m-%d"),
            "command": f"python tests/bench_rounds.py {runs}",
            "machine": {k: result["machine"][k] for k in ("cpu", "cores", "blas", "threads")},
            "workload": result["workload"],
            "runs": recorded,
        }
        if out is not None:
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(data, indent=1) + "\n")
        print(f"run {run + 1}/{runs} recorded", file=sys.stderr)
    return data


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(run_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    record(int(sys.argv[1]) if len(sys.argv) > 1 else 10, out=FIXTURE)
    print(f"wrote {FIXTURE}", file=sys.stderr)
