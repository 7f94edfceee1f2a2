"""Reading a sweep back: the best settings as a table, and accuracy against training time.

Trials of one setting (differing only in the seed) are grouped: accuracy and seconds are their
means, ``n`` counts the trials that finished, ``failed`` the ones that did not. Accuracy is the
official test accuracy where the sweep had a test set, else the dev accuracy.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mnistbench.reference.files import atomic_write

from .results import KEY_COLUMNS, OUTCOME_COLUMNS, read_results

MAX_LABELS = 6

__all__ = ["format_table", "pareto_front", "plot_pareto", "summarize"]


def _parameter_columns(frame) -> list[str]:
    return [c for c in frame.columns if c not in KEY_COLUMNS and c not in OUTCOME_COLUMNS]


def summarize(paths: list[str | Path], seed_name: str | None = None):
    """One row per setting (best first): accuracy mean/std, seconds, epochs, n, failed.

    Returns (table, accuracy column name, setting columns).
    """
    import pandas as pd

    frame = pd.concat([read_results(p) for p in paths], ignore_index=True)
    frame = frame.drop_duplicates("trial_key", keep="last")
    has_test = "test_accuracy" in frame and frame["test_accuracy"].notna().any()
    metric = "test_accuracy" if has_test else "dev_accuracy"
    setting = [c for c in _parameter_columns(frame) if c != seed_name]
    frame["ok"] = frame["error"] == ""
    keys = frame[setting].astype(str) if setting else pd.DataFrame(index=frame.index)
    frame["setting_id"] = keys.agg("|".join, axis=1) if setting else "all"
    seed_col = "seed_setting" if "seed_setting" in frame else None
    rows = []
    for _, group in frame.groupby("setting_id", sort=False):
        ok = group[group["ok"]]
        first = group.iloc[0]
        row = {name: first[name] for name in setting}
        row.update(
            accuracy=ok[metric].mean() if len(ok) else math.nan,
            accuracy_std=ok[metric].std(ddof=1) if len(ok) > 1 else math.nan,
            train_seconds=ok["train_seconds"].mean() if len(ok) else math.nan,
            n_iter=ok["n_iter"].mean() if len(ok) else math.nan,
            n=len(ok),
            failed=len(group) - len(ok),
            seed_setting=bool(seed_col and group[seed_col].astype(str).eq("True").any()),
            error=next((e for e in group["error"] if e), ""),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table) > 1:  # settings differ only in the columns that vary
        setting = [c for c in setting if table[c].astype(str).nunique() > 1] or setting
    table = table.sort_values(
        ["accuracy", "train_seconds"], ascending=[False, True], na_position="last"
    ).reset_index(drop=True)
    return table, metric, setting


def pareto_front(seconds: list[float], accuracy: list[float]) -> list[int]:
    """Indices of the points no other point beats on both (less time, more accuracy), by time."""
    points = [
        (s, -a, i)
        for i, (s, a) in enumerate(zip(seconds, accuracy, strict=True))
        if math.isfinite(s) and math.isfinite(a)
    ]
    front, best = [], -math.inf
    for _seconds, negative_accuracy, i in sorted(points):
        if -negative_accuracy > best:
            front.append(i)
            best = -negative_accuracy
    return front


def format_table(table, metric: str, setting: list[str], top: int = 10) -> str:
    """The ``top`` settings as aligned text, the seed's setting flagged with ``*``."""
    header = [*setting, metric.replace("_", " "), "+-", "seconds", "n_iter", "n", "failed", ""]
    lines = [header]
    for _, row in table.head(top).iterrows():
        lines.append(
            [str(row[name]) for name in setting]
            + [
                _number(row["accuracy"], ".4f"),
                _number(row["accuracy_std"], ".4f"),
                _number(row["train_seconds"], ".2f"),
                _number(row["n_iter"], ".0f"),
                str(row["n"]),
                str(row["failed"]),
                "* seed setting" if row["seed_setting"] else "",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    failed = table[table["n"] == 0]
    notes = [f"{len(table)} settings, best {min(top, len(table))} shown"]
    if len(failed):
        notes.append(f"{len(failed)} settings failed every trial, e.g. {failed.iloc[0]['error']}")
    if not table["seed_setting"].any():
        notes.append("the seed's setting is not in this sweep (add it with --include-seed)")
    return "\n".join(text + notes)


def _number(value: Any, spec: str) -> str:
    return "-" if value is None or not math.isfinite(float(value)) else format(value, spec)


def plot_pareto(table, metric: str, setting: list[str], path: str | Path) -> Path:
    """Accuracy against training seconds per setting, the Pareto front joined.

    The seed's setting is marked; written atomically (format from the suffix, PNG by default).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"--plot: directory {path.parent} does not exist")
    ok = table[table["n"] > 0].reset_index(drop=True)
    seconds, accuracy = list(ok["train_seconds"]), list(ok["accuracy"])
    front = pareto_front(seconds, accuracy)
    figure = Figure(figsize=(8, 5.5), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    ax.scatter(seconds, accuracy, s=22, color="tab:gray", alpha=0.7, label="setting (mean)")
    if front:
        ax.step(
            [seconds[i] for i in front],
            [accuracy[i] for i in front],
            where="post",
            color="tab:blue",
            label="Pareto front",
        )
        ax.scatter(
            [seconds[i] for i in front],
            [accuracy[i] for i in front],
            s=36,
            color="tab:blue",
            zorder=3,
        )
        for i in front[-MAX_LABELS:]:  # the most accurate end of the front
            label = "\n".join(f"{name}={ok.loc[i, name]}" for name in setting[:4])
            ax.annotate(
                label,
                (seconds[i], accuracy[i]),
                fontsize=6,
                xytext=(5, -4),
                textcoords="offset points",
                va="top",
            )
    seed_rows = ok.index[ok["seed_setting"]].tolist()
    if seed_rows:
        i = seed_rows[0]
        ax.scatter(
            [seconds[i]],
            [accuracy[i]],
            marker="*",
            s=260,
            color="tab:red",
            zorder=4,
            label="seed's setting",
        )
    ax.set_xscale("log")
    ax.set_xlabel("training seconds (mean over seeds, log scale)")
    ax.set_ylabel(metric.replace("_", " ") + " (mean over seeds)")
    ax.set_title(f"{len(ok)} settings: accuracy against training time")
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.15, y=0.08)
    ax.legend(loc="best", fontsize=8)
    figure.tight_layout()
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_write(path) as handle:
        figure.savefig(handle, format=fmt)
    return path
