"""Reporting: the result dictionary (what ``--json`` writes) and the text table."""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from .fingerprint import fingerprint, format_fingerprint
from .measure import spread_text, unsteady_note
from .measure import stats as time_stats

BUSY_SHARE = 0.10  # other processes' share of all cores above which a run counts as busy
SCHEMA = "mnistbench-bench/2"  # what --compare accepts; version 1 had no samples or fingerprint


def summarize(
    cases,
    minibatch,
    peaks,
    compile_times,
    m,
    hidden,
    threads,
    repeats,
    threading_layer: str | None = None,
) -> dict:
    """The result dict ``--json`` writes.

    Fingerprint, workload, peaks and one row per case with its per-round samples (``times_ms``, what
    ``--compare`` bootstraps), the BLAS it ran on and the process (system) that timed it.
    """
    machine = fingerprint(threads, threading_layer)
    rows = []
    notebook = next((c for c in cases if c.name == "notebook"), None)
    reference = next((c for c in cases if c.name == "reference" and c.dtype == "float64"), None)
    torch_case = next((c for c in cases if c.name == "torch" and c.dtype == "float32"), None)
    for case in cases:
        stats = time_stats(case.times)
        seconds = stats["median_ms"] / 1e3
        compute_floor = case.flops / (peaks[f"gflops_{case.dtype}"] * 1e9)
        memory_floor = case.bytes / (peaks["copy_gbps"] * 1e9)
        floor = max(compute_floor, memory_floor)
        rows.append(
            {
                **{
                    k: v
                    for k, v in asdict(case).items()
                    if k not in ("key", "keys", "times", "times_by_process")
                },
                "times_ms_by_process": [[t * 1e3 for t in ts] for ts in case.times_by_process],
                **stats,
                "times_ms": [t * 1e3 for t in case.times],
                "gflops": case.flops / seconds / 1e9,
                "gbps": case.bytes / seconds / 1e9,
                "floor_ms": floor * 1e3,
                "roofline_fraction": floor / seconds,
                "blas": machine["blas"],
                "speedup_vs_notebook": _ratio(notebook, case),
                "speedup_vs_reference_f64": _ratio(reference, case),
                "speedup_vs_torch": _ratio(torch_case, case),
            }
        )
    mb_rows = []
    for case in minibatch:
        stats = time_stats(case.times)
        batch = case.name.split("bs=")[1]
        ref_mb = next(
            (c for c in minibatch if c.name == f"reference bs={batch}" and c.dtype == "float64"),
            None,
        )
        torch_mb = next((c for c in minibatch if c.name == f"torch bs={batch}"), None)
        mb_rows.append(
            {
                "name": case.name,
                "engine": case.engine,
                "process": case.process,
                "dtype": case.dtype,
                "input_dtype": case.input_dtype,
                "batch_size": int(batch),
                **stats,
                "times_ms": [t * 1e3 for t in case.times],
                "times_ms_by_process": [[t * 1e3 for t in ts] for ts in case.times_by_process],
                "blas": machine["blas"],
                "speedup_vs_reference_f64": _ratio(ref_mb, case),
                "speedup_vs_torch": _ratio(torch_mb, case),
            }
        )
    return {
        "schema": SCHEMA,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine,
        "workload": {
            "m": m,
            "n_in": 784,
            "hidden": hidden,
            "n_out": 10,
            "repeats": repeats,
            "flops_per_iteration": cases[0].flops if cases else None,
        },
        "peaks": peaks,
        "full_batch": rows,
        "minibatch": mb_rows,
        "compile_seconds": compile_times,
    }


def _ratio(baseline, case) -> float | None:
    if baseline is None:
        return None
    return float(np.median(baseline.times) / np.median(case.times))


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def busy(result: dict) -> bool:
    """True when other processes took more than :data:`BUSY_SHARE` of the machine's CPU.

    That is measured while the run was timed (or, in results without that figure, the test is
    whether the 1-minute load average exceeded the run's threads + 1).
    """
    conditions = result.get("conditions") or {}
    if conditions.get("others_cpu") is not None:
        return conditions["others_cpu"] > BUSY_SHARE
    threads = result["machine"]["threads"]
    return max(conditions.get("load_before", 0), conditions.get("load_after", 0)) > threads + 1


def _conditions_line(result: dict) -> list[str]:
    conditions = result.get("conditions")
    if not conditions:
        return []
    line = (
        f"while timing: load average {conditions['load_before']:.1f} -> "
        f"{conditions['load_after']:.1f} on {result['machine']['cores']} cores"
    )
    if conditions.get("others_cpu") is not None:
        line += f", other processes took {conditions['others_cpu']:.0%} of the CPU"
    return [line + ("  (busy: expect noise)" if busy(result) else "")]


def _processes_line(result: dict) -> list[str]:
    """Which process timed what: every system in a worker of its own (:mod:`.isolated`)."""
    processes = result.get("processes")
    if not processes:
        return []
    parts = []
    for system, facts in processes.items():
        detail = []
        if facts.get("numba_threading_layer"):
            detail.append(f"Numba layer {facts['numba_threading_layer']}")
        if facts.get("torch_threads") is not None:
            detail.append(
                f"torch {facts['libraries'].get('torch')}, {facts['torch_threads']} threads"
            )
        if "jax" in facts.get("libraries", {}):
            detail.append(f"jax {facts['libraries']['jax']}")
        parts.append(system + (f" ({', '.join(detail)})" if detail else ""))
    return [
        "processes: each system timed in a process of its own, one at a time: " + "; ".join(parts)
    ]


def _peak_kernel(peaks: dict) -> str:
    """Which BLAS kernel set the matmul peak (older JSON files do not say)."""
    kernel = peaks.get("blas_kernel", "BLAS kernel not recorded")
    if "blas_env" in peaks:
        pinned = " ".join(f"{k}={v}" for k, v in peaks["blas_env"].items())
        kernel += f", {pinned}" if pinned else ", OpenBLAS's own choice for this CPU"
    return kernel + (f"; {peaks['peak_note']}" if peaks.get("peak_note") else "")


def _kernels_line(result: dict) -> list[str]:
    """The variant our kernels were compiled as (kernels/_cpu.py), from the numba worker."""
    target = (result.get("processes") or {}).get("numba", {}).get("kernel_target")
    if not target:
        return []
    return [
        f"our kernels: compiled for {target['cpu']} ({target['isa']}), "
        f"{target['vector_bits']}-bit vectors, {target['tile']} forward tile"
    ]


def format_report(result: dict) -> str:
    """The full-batch and mini-batch result as the text report the bench prints."""
    machine, work, peaks = result["machine"], result["workload"], result["peaks"]
    lines = [
        f"mnistbench bench  {result['date']}",
        *format_fingerprint(machine),
        *_processes_line(result),
        f"workload: full-batch iteration, m={work['m']:,} x {work['n_in']}, hidden "
        f"{work['hidden']}, {work['flops_per_iteration'] / 1e9:.3f} GFLOP; "
        f"{work['repeats']} interleaved rounds, median [min-max]",
        f"measured peaks: matmul {peaks['gflops_float64']:.0f} GFLOP/s f64, "
        f"{peaks['gflops_float32']:.0f} GFLOP/s f32 ({_peak_kernel(peaks)}); "
        f"copy {peaks['copy_gbps']:.1f} GB/s",
        *_kernels_line(result),
        *_conditions_line(result),
        "",
        f"{'variant':<15}{'dtype':<9}{'input':<9}{'ms/iter':>9}{'  [min-max]':<17}"
        f"{'vs nb':>7}{'vs ref64':>9}{'vs torch':>9}{'GFLOP/s':>9}{'GB/s':>7}{'floor ms':>10}"
        f"{'roofline':>9}",
    ]
    for row in result["full_batch"]:
        lines.append(
            f"{row['name']:<15}{row['dtype']:<9}{row['input_dtype']:<9}"
            f"{row['median_ms']:>9.2f}  {spread_text(row, '.1f'):<15}"
            f"{_fmt(row.get('speedup_vs_notebook'), '.2f'):>7}"
            f"{_fmt(row['speedup_vs_reference_f64'], '.2f'):>9}"
            f"{_fmt(row['speedup_vs_torch'], '.2f'):>9}{row['gflops']:>9.1f}{row['gbps']:>7.1f}"
            f"{row['floor_ms']:>10.2f}{row['roofline_fraction']:>9.0%}"
        )
    lines += unsteady_note(result["full_batch"])
    if any(row["name"] == "notebook" for row in result["full_batch"]):
        lines.append(
            "notebook: the seed notebook's own code, a baseline, not validated (its bias "
            "gradient is one scalar); 'vs nb' = notebook ms / row ms"
        )
    if result["minibatch"]:
        lines += [
            "",
            f"mini-batch epoch over m={work['m']:,} rows (plain SGD)",
            f"{'variant':<22}{'dtype':<9}{'input':<9}{'ms/epoch':>10}{'  [min-max]':<19}"
            f"{'vs ref64':>9}{'vs torch':>9}",
        ]
        for row in result["minibatch"]:
            lines.append(
                f"{row['name']:<22}{row['dtype']:<9}{row['input_dtype']:<9}"
                f"{row['median_ms']:>10.1f}  {spread_text(row, '.0f'):<17}"
                f"{_fmt(row['speedup_vs_reference_f64'], '.2f'):>9}"
                f"{_fmt(row['speedup_vs_torch'], '.2f'):>9}"
            )
        lines += unsteady_note(result["minibatch"])
    compile_times = result["compile_seconds"]
    if compile_times:
        cold, cached = compile_times["cold"], compile_times["cached"]
        lines += [
            "",
            "JIT compile, seconds to first train+predict in a fresh process "
            "(cold = no cache / cached):",
        ]
        for key in ("float64", "float32", "uint8->float32"):
            lines.append(f"  {key:<16}{cold[key]:6.1f} / {cached[key]:.2f}")
        lines.append(f"  {'import':<16}{cold['import']:6.1f} / {cached['import']:.2f}")
    return "\n".join(lines)
