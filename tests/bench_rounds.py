"""Recorded per-round bench samples for the ``--compare`` tests, and the slowed variant.

``python tests/bench_rounds.py RUNS`` times RUNS separate ``mnistbench bench`` runs of the
full-batch variants on this machine (seed workload, 2 threads, 7 rounds) with one extra variant
registered, ``numba_fused_slow``: ``numba_fused`` doing 20% more work per step. It writes every
run's per-round samples, and its load average, to ``tests/data/bench_rounds.json`` (rewritten
after every run). Before each run it waits up to a minute for the 1-minute load average to fall
below the bench's threads + 0.5, as a person would on a machine other jobs share. The tests
compare recorded runs with each other: two runs of the same code must read "same", and a run's
``numba_fused_slow`` samples against another run's ``numba_fused`` must read "slower".
Deterministic, but the noise is this machine's.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

FIXTURE = Path(__file__).parent / "data" / "bench_rounds.json"
THREADS = 2
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
    from mnistbench import variants

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


def record(runs: int, m: int = 41_000, repeats: int = 7, out: Path | None = None) -> dict:
    """Record ``runs`` bench runs; with ``out``, write what is recorded so far after each."""
    import json
    import tempfile

    from mnistbench.bench import main
    from mnistbench.variants import FULL_BATCH

    names = ["notebook", "reference", "numba", "numba_fused", SLOW]
    recorded = []
    with registered(SLOW, slowed(FULL_BATCH["numba_fused"]), like="numba_fused"):
        for run in range(runs):
            waited = wait_for_quiet(THREADS + 0.5)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "run.json"
                argv = ["--threads", str(THREADS), "--m", str(m), "--repeats", str(repeats),
                        "--no-minibatch", "--no-compile", "--engines", "numpy", "numba",
                        "--variants", *names, "--json", str(path)]  # fmt: skip
                if main(argv) != 0:
                    raise RuntimeError(f"bench run {run} failed")
                result = json.loads(path.read_text())
            recorded.append({
                "conditions": {**result["conditions"], "waited_s": round(waited)},
                "rows": {f"{r['name']}|{r['dtype']}|{r['input_dtype']}": r["times_ms"]
                         for r in result["full_batch"]},
            })  # fmt: skip
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
    for variable in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                     "MKL_NUM_THREADS"):  # fmt: skip
        os.environ[variable] = str(THREADS)  # before NumPy and Numba start their pools
    record(int(sys.argv[1]) if len(sys.argv) > 1 else 10, out=FIXTURE)
    print(f"wrote {FIXTURE}", file=sys.stderr)
