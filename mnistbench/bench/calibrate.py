"""``mnistbench bench --calibrate-compare``: how often ``--compare`` calls it right, measured.

For each condition (``idle``; ``hog``: one single-threaded CPU hog beside the bench) and each of
``pairs`` pairs it times four independent runs of one seed case, each a fresh set of worker
processes as a separate ``mnistbench bench`` invocation would be (same threads, rounds, pause and
calibration case as the bench): a baseline, the same code again, and the case with a planted
slowdown of 10% and of 25% (the same step followed by the step on the first 10% / 25% of the rows:
same results, that much more work). The runs of a pair go in a fresh seeded order. Then
``--compare`` judges baseline against each of the three, and the table counts the verdicts:

* same code: a ``slower``/``faster`` verdict is a false call (target: at most 1 in 20);
* +25%: ``slower`` is right (target: at least 19 in 20); +10%: at least 15 in 20;
* ``cannot resolve: noise floor X%`` is never counted right, but it is not a wrong call either.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import numpy as np

from mnistbench.reference.workloads import SEED

from .compare import SAME_WITHIN, UNRESOLVED, compare
from .isolated import Workers, time_isolated
from .measure import PAUSE
from .report import SCHEMA

CONDITIONS = ("idle", "hog")
PLANTED = {"same code": 0.0, "+10%": 0.10, "+25%": 0.25}
TARGETS = {"same code": ("wrong", 1 / 20), "+10%": ("slower", 15 / 20), "+25%": ("slower", 19 / 20)}
CASE = {"variant": "numba_fused", "dtype": "float32", "input_dtype": "uint8"}
HOG = "while True: pass"


@contextlib.contextmanager
def cpu_hog():
    """One single-threaded process spinning on a core for the duration."""
    process = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        time.sleep(0.5)  # scheduled and spinning before anything is timed
        yield process
    finally:
        process.kill()
        process.wait()


def single_run(
    machine: dict,
    threads: int,
    m: int,
    hidden: int,
    repeats: int,
    pause: float,
    extra_work: float,
    seed: int,
    processes: int = 3,
) -> dict:
    """One bench-like run of :data:`CASE` in ``processes`` fresh worker processes, as a result dict.

    The calibration case runs beside it; the dict is the result dict ``--compare`` reads.
    """
    from mnistbench.bench.variants import system_of

    from .run import add_in_processes

    with Workers(threads) as workers:
        case = add_in_processes(
            workers,
            "case",
            system_of(CASE["variant"]),
            "mnistbench.bench.cases:seed_step",
            processes,
            m=m,
            hidden=hidden,
            extra_work=extra_work,
            **CASE,
        )
        calibration = add_in_processes(
            workers, "calibration", "numba", "mnistbench.bench.cases:calibration", processes
        )
        times = time_isolated(workers, [*case, *calibration], repeats, pause, seed=seed)
        version = workers.builds["calibration"]["info"]["version"]

    def samples(keys):
        by_process = [[t * 1e3 for t in times[key]] for key in keys]
        return {
            "times_ms": [t for group in by_process for t in group],
            "times_ms_by_process": by_process,
        }

    row = {
        "name": CASE["variant"],
        "dtype": CASE["dtype"],
        "input_dtype": CASE["input_dtype"],
        **samples(case),
    }
    return {
        "schema": SCHEMA,
        "machine": machine,
        "workload": {"m": m, "n_in": 784, "hidden": hidden, "n_out": 10, "repeats": repeats},
        "full_batch": [row],
        "minibatch": [],
        "calibration": {"version": version, **samples(calibration)},
    }


def calibrate(
    threads: int,
    pairs: int = 20,
    conditions=CONDITIONS,
    m: int = SEED.rows,
    hidden: int = 10,
    repeats: int = 7,
    pause: float = PAUSE,
    same_within: float = SAME_WITHIN,
    progress=None,
    processes: int = 3,
) -> dict:
    """Verdict counts per condition and planted slowdown, with every pair's ratio and verdict.

    Both runs' samples are kept too, so the table can be recomputed from the JSON.
    """
    from .fingerprint import fingerprint

    machine = fingerprint(threads, threading_layer="-")  # only the identity fields are compared
    rng = np.random.default_rng(0)
    pairs_out = []
    for condition in conditions:
        hog = cpu_hog() if condition == "hog" else contextlib.nullcontext()
        with hog:
            for index in range(pairs):
                if progress:
                    progress(f"calibrate-compare: {condition}, pair {index + 1} of {pairs}")
                plan = [("baseline", 0.0), *PLANTED.items()]
                runs = {}
                for position in rng.permutation(len(plan)):
                    name, extra = plan[position]
                    runs[name] = single_run(
                        machine,
                        threads,
                        m,
                        hidden,
                        repeats,
                        pause,
                        extra,
                        seed=int(rng.integers(2**31)),
                        processes=processes,
                    )
                for name in PLANTED:
                    rows, _ = compare(runs["baseline"], runs[name], same_within=same_within)
                    row = rows[0]
                    samples = {"old": runs["baseline"], "new": runs[name]}
                    pairs_out.append(
                        {
                            "condition": condition,
                            "planted": name,
                            "ratio": row.ratio,
                            "low": row.low,
                            "high": row.high,
                            "verdict": row.verdict,
                            "noise_floor": row.noise_floor,
                            "samples": samples,
                        }
                    )
    return {
        "schema": "mnistbench-calibrate-compare/1",
        "machine": machine,
        "threads": threads,
        "pairs": pairs,
        "m": m,
        "repeats": repeats,
        "pause": pause,
        "same_within": same_within,
        "processes": processes,
        "case": CASE,
        "results": pairs_out,
        "table": table(pairs_out),
    }


def table(results: list[dict]) -> list[dict]:
    """Per condition x planted slowdown: verdict counts, median ratio, target met or not."""
    rows = []
    for condition in dict.fromkeys(r["condition"] for r in results):
        for planted, (kind, bound) in TARGETS.items():
            cell = [r for r in results if r["condition"] == condition and r["planted"] == planted]
            counts = {
                v: sum(r["verdict"] == v for r in cell)
                for v in ("slower", "same", "faster", UNRESOLVED)
            }
            if kind == "wrong":
                wrong = counts["slower"] + counts["faster"]
                met = wrong <= bound * len(cell)
            else:
                wrong = counts["faster"] + counts["same"]
                met = counts["slower"] >= bound * len(cell)
            rows.append(
                {
                    "condition": condition,
                    "planted": planted,
                    "pairs": len(cell),
                    **counts,
                    "wrong": wrong,
                    "median_ratio": float(np.median([r["ratio"] for r in cell])),
                    "median_noise_floor": float(np.median([r["noise_floor"] for r in cell])),
                    "target": _target_text(kind, bound),
                    "met": bool(met),
                }
            )
    return rows


def _target_text(kind: str, bound: float) -> str:
    if kind == "wrong":
        return f"false calls <= {bound * 20:.0f}/20"
    return f"'slower' >= {bound * 20:.0f}/20"


def format_table(result: dict) -> str:
    """The calibration result as the text table the report prints."""
    lines = [
        f"--compare calibration: {result['pairs']} pairs per cell, {result['threads']} threads, "
        f"{CASE['variant']} {CASE['dtype']} on {CASE['input_dtype']}, m={result['m']:,}, "
        f"{result['repeats']} rounds x {result.get('processes', 1)} processes per run, asked "
        f"resolution +-{result['same_within']:.0%}",
        f"{'condition':<10}{'planted':<11}{'slower':>7}{'same':>6}{'faster':>7}"
        f"{'unresolved':>11}{'wrong':>7}{'median ratio':>14}{'noise floor':>13}  target",
    ]
    for row in result["table"]:
        lines.append(
            f"{row['condition']:<10}{row['planted']:<11}{row['slower']:>7}{row['same']:>6}"
            f"{row['faster']:>7}{row[UNRESOLVED]:>11}{row['wrong']:>7}{row['median_ratio']:>14.3f}"
            f"{row['median_noise_floor']:>13.1%}  {row['target']}: "
            f"{'met' if row['met'] else 'MISSED'}"
        )
    return "\n".join(lines)
