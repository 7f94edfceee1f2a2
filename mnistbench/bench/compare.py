"""``mnistbench bench --compare OLD.json [NEW.json]``: a real regression, or noise.

Per row present in both results: the ratio ``median(new) / median(old)`` of the recorded
per-round samples (``times_ms``), divided by the same ratio of the calibration case's samples
when both runs timed one (a fixed NumPy matmul load, timed in every round beside the cases: it
divides out the machine's speed of the moment, which on a shared 2-core machine moves every row by
several percent between runs), and a bootstrap 95% confidence interval for it (every sample set
resampled with replacement, seeded, :data:`RESAMPLES` times). The run's own noise floor is the
interval's half-width relative to the ratio. With ``same_within`` the asked resolution (5%):

* ``slower``: the ratio is above ``1 + same_within`` and the interval excludes 1;
* ``faster``: the ratio is below ``1 / (1 + same_within)`` and the interval excludes 1;
* ``same``: the ratio is within the band and the noise floor is at most ``same_within``;
* ``cannot resolve``: otherwise (too noisy to tell; the row says its measured noise floor).

``mnistbench bench --calibrate-compare`` measures how often these verdicts are right here (same
code, planted slowdowns of 10% and 25%, idle and beside a CPU hog).

The median ratio over all rows (the shift they share) is printed; ``relative`` judges each row
against it instead of 1. ``fail_above`` (e.g. 1.10): exit 1 when some row's interval lies wholly
above it. Results of different machines (:func:`mnistbench.bench.fingerprint.identity`) or
workloads refuse to compare unless ``force``; bad files raise :class:`CompareError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fingerprint import identity
from .report import SCHEMA, busy

RESAMPLES = 4000
MIN_ROWS_FOR_SHIFT = 3
SAME_WITHIN = 0.05
WORKLOAD_KEYS = ("m", "n_in", "hidden", "n_out")
# section -> {a registry variant's name before 0.2.0: its name now} (mnistbench.bench.variants):
# results written before still compare with today's.
RENAMED = {"full_batch": {"numba": "numba_unfused"}, "minibatch": {"numba": "numba_fused"}}


class CompareError(ValueError):
    """A result file that cannot be compared (missing, truncated, foreign, other machine)."""


UNRESOLVED = "cannot resolve"


@dataclass
class RowComparison:
    """One row present in both results: the two medians, the ratio, its interval, the verdict."""

    key: tuple[str, str, str, str]  # section, name, dtype, input dtype
    old_ms: float
    new_ms: float
    ratio: float  # new / old (over the calibration's new / old where both have one): > 1 slower
    low: float
    high: float
    verdict: str  # slower, faster, same or UNRESOLVED
    noise_floor: float = 0.0  # the interval's half-width relative to the ratio

    @property
    def verdict_text(self) -> str:
        """The verdict as printed, with the noise floor where it cannot resolve."""
        if self.verdict == UNRESOLVED:
            return f"{UNRESOLVED}: noise floor {self.noise_floor:.0%}"
        return self.verdict


def load_result(path: Path) -> dict:
    """A ``mnistbench bench --json`` result, checked enough to compare; CompareError if not."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CompareError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CompareError(f"{path}: cannot be read ({error})") from None
    try:
        result = json.loads(text)
    except json.JSONDecodeError as error:
        raise CompareError(
            f"{path}: not valid JSON, truncated? ({error.msg} at line "
            f"{error.lineno}, column {error.colno})"
        ) from None
    if isinstance(result, dict) and "runs" in result and "rows" in result:
        raise CompareError(f"{path}: a --threads scaling result; compare single runs")
    if not isinstance(result, dict) or "full_batch" not in result:
        raise CompareError(f"{path}: not a mnistbench bench result (no 'full_batch' rows)")
    if result.get("schema") != SCHEMA:
        raise CompareError(
            f"{path}: written by another mnistbench bench version (schema "
            f"{result.get('schema')!r}, expected {SCHEMA!r}: per-round samples "
            "and the machine fingerprint are needed); re-run the bench"
        )
    for section in ("full_batch", "minibatch"):
        rows = result.get(section, [])
        if not isinstance(rows, list):
            raise CompareError(f"{path}: '{section}' is not a list of rows")
        for row in rows:
            _check_row(path, section, row)
    if not isinstance(result.get("machine"), dict):
        raise CompareError(f"{path}: no machine fingerprint")
    return result


def _check_row(path: Path, section: str, row: object) -> None:
    if not isinstance(row, dict) or not all(k in row for k in ("name", "dtype", "input_dtype")):
        raise CompareError(f"{path}: a '{section}' row lacks name/dtype/input_dtype: {row!r:.80}")
    times = row.get("times_ms")
    if (
        not isinstance(times, list)
        or not times
        or not all(isinstance(t, (int, float)) and math.isfinite(t) and t > 0 for t in times)
    ):
        raise CompareError(
            f"{path}: row {row['name']} {row['dtype']} has no positive finite "
            f"per-round samples (times_ms: {times!r:.60})"
        )


def _calibration(result: dict) -> list | None:
    calibration = result.get("calibration") or {}
    samples = calibration.get("times_ms_by_process") or calibration.get("times_ms")
    return samples if samples else None


def current_name(section: str, name: str) -> str:
    """Row ``name`` of ``section`` as written today.

    An old variant name (:data:`RENAMED`) is replaced, a suffix such as ``" bs=128"`` kept.
    """
    variant, space, rest = name.partition(" ")
    return RENAMED.get(section, {}).get(variant, variant) + space + rest


def _rows(result: dict) -> dict[tuple[str, str, str, str], list]:
    """Each row's samples, per process where it was timed in several processes.

    Per-process rounds where it was timed in two or more processes, else its flat rounds.
    """
    return {
        (section, current_name(section, row["name"]), row["dtype"], row["input_dtype"]): (
            row["times_ms_by_process"]
            if len(row.get("times_ms_by_process") or []) >= 2
            else row["times_ms"]
        )
        for section in ("full_batch", "minibatch")
        for row in result.get(section, [])
    }


def _nested(samples) -> bool:
    """True for per-process lists of rounds, False for flat rounds."""
    return len(samples) > 0 and np.ndim(samples[0]) == 1


def _pooled(samples) -> np.ndarray:
    """All rounds of ``samples`` (flat or per process) in one array."""
    if _nested(samples):
        return np.concatenate([np.asarray(group, dtype=float) for group in samples])
    return np.asarray(samples, dtype=float)


def _bootstrap_medians(samples, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Medians of ``resamples`` bootstrap resamples of ``samples``.

    ``samples``: a flat list of rounds, or a list of per-process lists (rounds from several worker
    processes): then each resample draws processes with replacement and rounds within each, so the
    interval carries how much processes of identical code differ, not only how much rounds do.
    """
    groups = samples if _nested(samples) else None
    if groups is not None and len(groups) >= 2 and len({len(g) for g in groups}) == 1:
        table = np.asarray(groups, dtype=float)  # (processes, rounds)
        count, rounds = table.shape
        picked = rng.integers(0, count, (resamples, count, 1))
        drawn = table[picked, rng.integers(0, rounds, (resamples, count, rounds))]
        return np.median(drawn.reshape(resamples, -1), axis=1)
    flat = _pooled(samples)
    return np.median(flat[rng.integers(0, flat.size, (resamples, flat.size))], axis=1)


def bootstrap_ratio(
    old,
    new,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
    old_calibration=None,
    new_calibration=None,
):
    """``median(new) / median(old)`` and the 2.5th and 97.5th percentiles of its bootstrap.

    With both calibrations, the ratio is divided by
    ``median(new_calibration) / median(old_calibration)`` (each of the four sample sets resampled on
    its own). Each set is flat rounds or per-process rounds (see :func:`_bootstrap_medians`).
    """
    ratio = float(np.median(_pooled(new)) / np.median(_pooled(old)))
    ratios = _bootstrap_medians(new, rng, resamples) / _bootstrap_medians(old, rng, resamples)
    if old_calibration is not None and new_calibration is not None:
        ratio /= float(np.median(_pooled(new_calibration)) / np.median(_pooled(old_calibration)))
        ratios /= _bootstrap_medians(new_calibration, rng, resamples) / _bootstrap_medians(
            old_calibration, rng, resamples
        )
    low, high = np.percentile(ratios, [2.5, 97.5])
    return ratio, float(low), float(high)


def noise_floor(ratio: float, low: float, high: float) -> float:
    """The interval's half-width relative to the ratio (its larger side)."""
    return max(high / ratio - 1, 1 - low / ratio)


def verdict(ratio: float, low: float, high: float, same_within: float = SAME_WITHIN) -> str:
    """Slower / faster / same / :data:`UNRESOLVED` (see the module docstring)."""
    if ratio > 1 + same_within and low > 1:
        return "slower"
    if ratio < 1 / (1 + same_within) and high < 1:
        return "faster"
    if 1 / (1 + same_within) <= ratio <= 1 + same_within:
        if noise_floor(ratio, low, high) <= same_within:
            return "same"
    return UNRESOLVED


def mismatches(old: dict, new: dict) -> list[str]:
    """What makes two results incomparable: machine identity, threads and workload."""
    problems = []
    old_id, new_id = identity(old["machine"]), identity(new["machine"])
    for key in old_id:
        if old_id[key] != new_id[key]:
            problems.append(f"machine {key}: {old_id[key]!r} vs {new_id[key]!r}")
    if old["machine"].get("threads") != new["machine"].get("threads"):
        problems.append(
            f"threads: {old['machine'].get('threads')} vs {new['machine'].get('threads')}"
        )
    for key in WORKLOAD_KEYS:
        a, b = old.get("workload", {}).get(key), new.get("workload", {}).get(key)
        if a != b:
            problems.append(f"workload {key}: {a} vs {b}")
    return problems


def compare(
    old: dict,
    new: dict,
    *,
    same_within: float = SAME_WITHIN,
    force: bool = False,
    relative: bool = False,
    seed: int = 0,
) -> tuple[list[RowComparison], list[str]]:
    """Row comparisons (rows in both, in NEW's order) and notes; CompareError when refused.

    ``relative``: each row's ratio and interval are divided by the median ratio of all rows (the
    shift they share), so a machine slower as a whole between the runs reads "same"; a change
    that moves every row alike then cannot be seen.
    """
    notes = []
    problems = mismatches(old, new)
    if problems and not force:
        raise CompareError(
            "refusing to compare results of different machines or workloads "
            "(--force compares anyway): " + "; ".join(problems)
        )
    notes += [f"warning: {problem} (compared anyway, --force)" for problem in problems]
    for package in ("numpy", "numba", "llvmlite", "torch", "blas"):
        a, b = old["machine"].get(package), new["machine"].get(package)
        if a != b:
            notes.append(f"note: {package} {a} -> {b}")
    for name, result in (("OLD", old), ("NEW", new)):
        if busy(result):
            conditions = result["conditions"]
            share = conditions.get("others_cpu")
            took = f"load {conditions['load_before']:.1f} -> {conditions['load_after']:.1f}"
            if share is not None:
                took = f"other processes took {share:.0%} of the CPU"
            notes.append(
                f"warning: {name} ran on a busy machine ({took}): differences may be "
                "the machine's, not the code's"
            )
    old_rows, new_rows = _rows(old), _rows(new)
    rng = np.random.default_rng(seed)
    common = [key for key in new_rows if key in old_rows]
    calibrations = [_calibration(result) for result in (old, new)]
    versions = [(result.get("calibration") or {}).get("version") for result in (old, new)]
    if None not in calibrations and versions[0] != versions[1]:
        calibrations = [None, None]
        notes.append(
            f"note: calibration kernels differ ({versions[0]} vs {versions[1]}): raw "
            "ratios, the machine's speed of the moment is not divided out"
        )
    elif None in calibrations:
        calibrations = [None, None]
        notes.append(
            "note: no calibration samples in "
            + (
                "both runs"
                if _calibration(old) is None and _calibration(new) is None
                else "one run"
            )
            + ": raw ratios, the "
            "machine's speed of the moment is not divided out"
        )
    else:
        speed = float(np.median(_pooled(calibrations[1])) / np.median(_pooled(calibrations[0])))
        notes.append(
            f"calibration case: NEW / OLD {speed:.3f} (the machine's speed moved "
            f"{speed - 1:+.1%}); ratios below are divided by it"
        )
    ratios = {
        key: bootstrap_ratio(
            old_rows[key],
            new_rows[key],
            rng,
            old_calibration=calibrations[0],
            new_calibration=calibrations[1],
        )
        for key in common
    }
    shift = 1.0
    if len(common) >= MIN_ROWS_FOR_SHIFT:
        shift = float(np.median([ratio for ratio, _, _ in ratios.values()]))
        notes.append(
            f"every row: median ratio {shift:.3f}; "
            + (
                "verdicts are of each row against that shared shift (--relative)"
                if relative
                else "a shift shared by all rows is the machine's, or a change that touches "
                "everything (--relative judges rows against it)"
            )
        )
    elif relative:
        raise CompareError(
            f"--relative needs {MIN_ROWS_FOR_SHIFT} or more shared rows, got {len(common)}"
        )
    rows = []
    for key in common:
        ratio, low, high = (value / shift for value in ratios[key]) if relative else ratios[key]
        rows.append(
            RowComparison(
                key,
                float(np.median(_pooled(old_rows[key]))),
                float(np.median(_pooled(new_rows[key]))),
                ratio,
                low,
                high,
                verdict(ratio, low, high, same_within),
                noise_floor(ratio, low, high),
            )
        )
    only_old = [" ".join(key[1:]) for key in old_rows if key not in new_rows]
    only_new = [" ".join(key[1:]) for key in new_rows if key not in old_rows]
    for side, names in (("OLD", only_old), ("NEW", only_new)):
        if names:
            more = f" and {len(names) - 4} more" if len(names) > 4 else ""
            notes.append(f"only in {side}: " + ", ".join(names[:4]) + more)
    if not rows:
        raise CompareError("the two results share no rows (same name, dtype and input)")
    return rows, notes


def regressions(rows: list[RowComparison], fail_above: float) -> list[RowComparison]:
    """Rows slower than ``fail_above`` with the whole confidence interval above it."""
    return [row for row in rows if row.low > fail_above]


def format_comparison(
    rows: list[RowComparison],
    notes: list[str],
    old_name: str,
    new_name: str,
    same_within: float = SAME_WITHIN,
) -> str:
    """The comparison rows and notes as the text table ``--compare`` prints."""
    lines = [
        f"compare: OLD {old_name}  ->  NEW {new_name}",
        f"ratio = median NEW / median OLD per row (above 1 is slower), bootstrap 95% interval; "
        f"asked resolution +-{same_within:.0%}: 'slower'/'faster' beyond it with the interval "
        "excluding 1, 'same' within it with a noise floor below it, else 'cannot resolve'",
        *notes,
        "",
        f"{'section':<11}{'variant':<17}{'dtype':<9}{'input':<9}{'OLD ms':>9}{'NEW ms':>9}"
        f"{'ratio':>8}  {'95% interval':<15}verdict",
    ]
    for row in rows:
        section, name, dtype, input_dtype = row.key
        lines.append(
            f"{section:<11}{name:<17}{dtype:<9}{input_dtype:<9}{row.old_ms:>9.2f}"
            f"{row.new_ms:>9.2f}{row.ratio:>8.3f}  [{row.low:.3f}-{row.high:.3f}]  "
            f"{row.verdict_text}"
        )
    counts = {
        v: sum(r.verdict == v for r in rows) for v in ("faster", "same", "slower", UNRESOLVED)
    }
    lines += ["", ", ".join(f"{n} {v}" for v, n in counts.items())]
    return "\n".join(lines)
