"""Plotting: a bar chart of the full-batch cases with each dtype's roofline floor."""

from __future__ import annotations

from pathlib import Path

from mnistbench.reference.plots import new_figure, save_png


def plot_report(result: dict, path: Path) -> Path:
    """Bar chart of ms per full-batch iteration per case, with each dtype's roofline floor."""
    rows = result["full_batch"]
    labels = [
        f"{r['name']} {r['dtype']}" + (" (uint8 X)" if r["input_dtype"] == "uint8" else "")
        for r in rows
    ]
    medians = [r["median_ms"] for r in rows]
    spread = [
        [r["median_ms"] - r["min_ms"] for r in rows],
        [r["max_ms"] - r["median_ms"] for r in rows],
    ]
    colors = {"numpy": "tab:gray", "numba": "tab:blue", "torch": "tab:orange"}
    figure = new_figure(9, 0.45 * len(rows) + 2)
    ax = figure.add_subplot(1, 1, 1)
    ax.barh(labels, medians, xerr=spread, color=[colors[r["engine"]] for r in rows])
    for dtype, style in (("float64", "--"), ("float32", ":")):
        floors = [
            r["floor_ms"] for r in rows if r["dtype"] == dtype and r["input_dtype"] != "uint8"
        ]
        if floors:
            ax.axvline(floors[0], color="red", linestyle=style, label=f"roofline floor {dtype}")
    ax.invert_yaxis()
    ax.set_xlabel("ms per full-batch iteration (median, min-max)")
    work = result["workload"]
    ax.set_title(
        f"seed workload m={work['m']:,}, hidden {work['hidden']}, "
        f"{result['machine']['threads']} threads"
    )
    ax.legend(loc="lower right")
    figure.tight_layout()
    return save_png(figure, path)


def plot_scaling(result: dict, path: Path) -> Path:
    """Two panels over the thread counts: ms per full-batch iteration (log) and efficiency.

    The time axis is labelled at 1, 2 and 5 times powers of ten only, and spans at least two
    of them: labelling every minor tick of a log axis (20, 30, ..., 90) made them overlap.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    counts = result["threads"]
    rows = [row for row in result["rows"] if row["section"] == "full_batch"]
    figure = new_figure(11, 4.5)
    times, efficiency = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for index, row in enumerate(rows):
        label = f"{row['name']} {row['dtype']}" + (
            " (uint8 X)" if row["input_dtype"] == "uint8" else ""
        )
        style = {
            "marker": "os^"[index // 10 % 3],
            "linestyle": "-:"[index // 10 % 2],
            "color": f"C{index % 10}",
        }
        times.plot(counts, [row["median_ms"][str(n)] for n in counts], label=label, **style)
        efficiency.plot(counts, [row["efficiency"][str(n)] for n in counts], **style)
    efficiency.axhline(1.0, color="gray", linestyle=":", label="perfect scaling")
    times.set_yscale("log")
    nice = [k * 10.0**e for e in range(-3, 7) for k in (1, 2, 5)]
    medians = [row["median_ms"][str(n)] for row in rows for n in counts]
    if medians:
        low = max([v for v in nice if v <= min(medians)], default=nice[0])
        high = min([v for v in nice if v >= max(medians)], default=nice[-1])
        times.set_ylim(low / 1.1, high * 1.1)
    times.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    times.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    times.yaxis.set_minor_formatter(NullFormatter())
    for ax in (times, efficiency):
        ax.set_xticks(counts)
        ax.set_xlabel("threads (each count in its own pinned process)")
    times.set_ylabel("ms per full-batch iteration (median)")
    efficiency.set_ylabel(f"parallel efficiency vs {counts[0]} thread(s)")
    highest = max((max(row["efficiency"].values()) for row in rows), default=1.0)
    efficiency.set_ylim(0, max(1.2, 1.05 * highest))
    times.legend(fontsize=7)
    efficiency.legend(fontsize=7)
    work = result["workload"]
    figure.suptitle(
        f"thread scaling, m={work['m']:,}, hidden {work['hidden']}, {result['machine']['cpu']}"
    )
    figure.tight_layout()
    return save_png(figure, path)
