"""Thread scaling: ``mnistbench bench --threads 1,2,...``.

Each count runs in a fresh process with every pool pinned to it (NumPy's BLAS and Numba read their
thread counts once, at start-up), writing a normal result JSON; the rows are then lined up. The
parallel efficiency of a row at n threads is ``t(n0) * n0 / (t(n) * n)`` with n0 the smallest
count: 1.0 is perfect scaling, 1/n no gain at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mnistbench.reference.files import atomic_write

from .fingerprint import format_fingerprint
from .options import THREAD_VARIABLES

SCHEMA = "mnistbench-bench-scaling/1"


def run_scaling(
    counts: list[int],
    argv_for: Callable[[int], list[str]],
    json_path: Path | None,
    plot_path: Path | None,
) -> int:
    """Run one pinned child per thread count, then print the table and write JSON and PNG."""
    runs: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in counts:
            path = Path(tmp) / f"threads-{count}.json"
            env = {**os.environ, "MNISTBENCH_BENCH_CHILD": "1"}
            env.update({name: str(count) for name in THREAD_VARIABLES})
            started = time.perf_counter()
            child = subprocess.run(
                [sys.executable, "-m", "mnistbench.bench", *argv_for(count), "--json", str(path)],
                env=env,
                capture_output=True,
                text=True,
            )
            if child.returncode != 0:
                sys.stderr.write(child.stdout[-2000:] + child.stderr[-4000:])
                print(
                    f"error: the run with {count} threads failed (exit {child.returncode})",
                    file=sys.stderr,
                )
                return child.returncode
            runs[count] = json.loads(path.read_text())
            print(f"threads {count}: measured in {time.perf_counter() - started:.0f} s", flush=True)
    result = summarize_scaling(runs)
    print(format_scaling(result))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(json_path) as handle:
            handle.write(json.dumps(result, indent=2).encode())
        print(f"wrote {json_path}")
    if plot_path is not None:
        from .plot import plot_scaling

        plot_scaling(result, plot_path)
        print(f"wrote {plot_path}")
    return 0


def summarize_scaling(runs: dict[int, dict]) -> dict:
    """Rows present at every count: median ms per count, speedup and efficiency vs the smallest.

    runs: thread count -> a ``mnistbench bench --json`` result of that count.
    """
    counts = sorted(runs)
    base = counts[0]
    rows = []
    first = runs[base]
    for section in ("full_batch", "minibatch"):
        for row in first.get(section, []):
            key = (row["name"], row["dtype"], row["input_dtype"])
            medians = {}
            for count in counts:
                match = [
                    r
                    for r in runs[count].get(section, [])
                    if (r["name"], r["dtype"], r["input_dtype"]) == key
                ]
                if match:
                    medians[count] = match[0]["median_ms"]
            if len(medians) != len(counts):
                continue
            rows.append(
                {
                    "section": section,
                    "name": key[0],
                    "dtype": key[1],
                    "input_dtype": key[2],
                    "median_ms": {str(n): medians[n] for n in counts},
                    "speedup": {str(n): medians[base] / medians[n] for n in counts},
                    "efficiency": {str(n): medians[base] * base / (medians[n] * n) for n in counts},
                }
            )
    return {
        "schema": SCHEMA,
        "threads": counts,
        "machine": first["machine"],
        "workload": first["workload"],
        "rows": rows,
        "runs": {str(n): runs[n] for n in counts},
    }


def _conditions_line(result: dict) -> list[str]:
    runs = result["runs"]
    shares = {n: (run.get("conditions") or {}).get("others_cpu") for n, run in runs.items()}
    if any(share is None for share in shares.values()):
        return []
    taken = ", ".join(f"{share:.0%} at {n} thread(s)" for n, share in shares.items())
    return [f"while timing, other processes took {taken} of the CPU"]


def format_scaling(result: dict) -> str:
    """The thread-scaling result as the text table the bench prints."""
    counts = result["threads"]
    base = counts[0]
    work = result["workload"]
    machine = {**result["machine"], "threads": ",".join(map(str, counts))}
    machine["blas"] = str(machine.get("blas")).rsplit(",", 1)[0] + ", threads pinned per run"
    lines = [
        f"thread scaling, m={work['m']:,}, hidden {work['hidden']}: median ms per iteration "
        f"(epoch for mini-batch rows) and parallel efficiency t({base})*{base} / (t(n)*n)",
        *format_fingerprint(machine),
        *_conditions_line(result),
        "",
        f"{'variant':<17}{'dtype':<9}{'input':<9}"
        + "".join(f"{f'{n} thr ms':>11}" for n in counts)
        + "".join(f"{f'eff {n}':>8}" for n in counts[1:]),
    ]
    for row in result["rows"]:
        lines.append(
            f"{row['name']:<17}{row['dtype']:<9}{row['input_dtype']:<9}"
            + "".join(f"{row['median_ms'][str(n)]:>11.2f}" for n in counts)
            + "".join(f"{row['efficiency'][str(n)]:>8.0%}" for n in counts[1:])
        )
    return "\n".join(lines)
