"""Reports of an evaluation: ``results.json``, ``results.md``, ``runs/<system>.trec`` and ``plot.png``.

The plot shows quality (the first measure, e.g. nDCG@10) against query latency (ms per query,
encoding + search + rerank) and against the memory the system keeps for search (MiB), both on log axes,
each system a marker named in a legend. Drawn with matplotlib's Agg backend (no display needed).
The demo's report (``index.html``, ``report.md``) is :mod:`recplug_eval.demo_report`.
"""

from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path
from typing import Any

from recplug.fileio import atomic_save_with, atomic_write_json, atomic_write_text

from recplug_eval.tables import markdown_table


def safe_name(name: str) -> str:
    """A file-name and TREC-tag friendly form of a system name."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", name).strip("-") or "system"


#: optional one-query-at-a-time latencies in ``SystemResult.timings`` (milliseconds) and their column names
SINGLE_QUERY_COLUMNS = {"single_query_p50_ms": "1-query p50 ms", "single_query_p95_ms": "1-query p95 ms"}


def human_bytes(size: float | None) -> str:
    """``7.6 MiB``, ``1.21 GiB``: a byte count for reports (empty for ``None``)."""
    if size is None:
        return ""
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    if unit == "B":
        return f"{value:.0f} B"
    return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"


def report_measures(report: Any) -> list[str]:
    """Every metric key of every system, in order of first appearance (systems may add their own keys,
    e.g. recall against another system's run)."""
    return list(dict.fromkeys(m for s in report.systems for m in s.metrics))


def results_table(report: Any) -> str:
    """The markdown table: one row per system, one column per measure, then latency and memory.

    Columns: every metric (blank where a system lacks it); ``ms/query``: query encoding + search (+ rerank)
    of the batch of all queries, per query; ``1-query p50/p95 ms`` when a system measured one query per call;
    ``memory``: what the system keeps for search.
    """
    measures = report_measures(report)
    single = [key for key in SINGLE_QUERY_COLUMNS if any(key in s.timings for s in report.systems)]
    headers = ["system", *measures, "ms/query", *(SINGLE_QUERY_COLUMNS[key] for key in single), "memory"]
    rows = []
    for s in report.systems:
        rows.append(
            [
                s.name,
                *(s.metrics.get(m) for m in measures),
                s.query_latency_ms if s.timings else None,  # a scored run file has no timings
                *(s.timings.get(key) for key in single),
                human_bytes(s.memory_bytes),
            ]
        )
    return markdown_table(headers, rows, floatfmt=["", *[".4f"] * len(measures), *[".2f"] * (1 + len(single)), ""])


def timed_queries_note(report: Any) -> str:
    """`` 1-query latency over N queries (S: n, where latency_seconds stopped it)``, or ``""`` when none was timed."""
    counts = {s.name: s.config["single_query_latency"]["queries"] for s in report.systems
              if isinstance(s.config, dict) and "single_query_latency" in s.config}
    if not counts:
        return ""
    most = max(counts.values())
    fewer = [f"{name}: {n}" for name, n in counts.items() if n < most]
    return (f" 1-query latency over {most} queries" + (f" ({', '.join(fewer)}, where the time limit stopped it)"
                                                       if fewer else "") + ".")


def markdown_report(report: Any, title: str = "Retrieval evaluation") -> str:
    d = report.dataset
    lines = [
        f"# {title}",
        "",
        (f"Dataset `{d['name']}` split `{d['split']}`: {d['documents']} documents, {d['judged_queries']} judged queries, "
         f"{d['judgments']} judgments; top {report.config.k} per query." if d.get("split") is not None else
         f"Dataset `{d['name']}`: {d['documents']} documents, {d['judged_queries']} queries, no judgments (no qrels): "
         f"the only quality measure is `R@k vs <reference>`, the overlap with a reference system's top k; top "
         f"{report.config.k} per query."),
        "",
        results_table(report),
        "",
        "ms/query: query encoding + search (+ rerank) of all queries in one batch, per query; 1-query p50/p95: "
        "one query per call (where measured); memory: what the system keeps for search (document vectors, "
        "BM25 score matrix)." + timed_queries_note(report),
    ]
    notes = d.get("load_notes") or {}
    if notes:
        lines += ["", "Loader notes: " + "; ".join(f"{k}: {v}" for k, v in notes.items())]
    return "\n".join(lines) + "\n"


def plot_report(report: Any, path: str | Path, measure: str | None = None) -> Path:
    """Quality (``measure``, default the first metric) against ms/query and against memory, both on log axes.

    One marker per system (shape and colour), named in a legend below the panels, not beside the points, so
    long or close names never overprint; the figure grows with the number of legend rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    measure = measure or report_measures(report)[0]
    systems = [s for s in report.systems if measure in s.metrics]
    longest = max((len(s.name) for s in systems), default=1)
    columns = max(1, min(len(systems), 3 if longest <= 28 else 2 if longest <= 45 else 1))
    legend_rows = -(-len(systems) // columns)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2 + 0.28 * legend_rows), layout="constrained")
    markers = "osD^vP*Xhp<>"
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]  # the default ten-colour cycle
    latency = [s.query_latency_ms if s.timings else math.nan for s in systems]  # a scored run file has no timings
    memory = [s.memory_bytes / 2**20 if s.memory_bytes else math.nan for s in systems]
    for i, s in enumerate(systems):
        style = {"marker": markers[i % len(markers)], "color": colors[i % len(colors)], "s": 64, "label": s.name,
                 "edgecolors": "black", "linewidths": 0.5, "zorder": 3}
        axes[0].scatter(latency[i], s.metrics[measure], **style)
        axes[1].scatter(memory[i], s.metrics[measure], **style)
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    labels = ("ms/query (all queries in one batch; log scale)", "search memory (MiB; log scale)")
    for ax, values, label in zip(axes, (latency, memory), labels, strict=True):
        ax.set_xscale("log")
        xs = [x for x in values if x > 0]
        decades = math.log10(max(xs) / min(xs)) if xs else 0.0
        # 1-2-5 ticks over a few decades, one labelled tick per decade beyond, so tick labels never crowd
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(x=0.15, y=0.12)
        ax.set_xlabel(label)
        ax.set_ylabel(measure)
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"{report.dataset['name']} {report.dataset['split'] or '(no judgments)'}: {measure} vs latency and memory")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=columns, frameon=False)
    atomic_save_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return Path(path)


def write_report(
    report: Any, output_dir: str | Path, title: str = "Retrieval evaluation", *, summary: bool = True
) -> dict[str, Path]:
    """Write every report file into ``output_dir``; returns their paths by kind.

    ``summary=False`` leaves out ``results.json`` and ``results.md`` (the demo writes its own report around
    the table: :mod:`recplug_eval.demo_report`) and writes the runs, per-query measures and the plot.
    """
    from recplug_eval.paths import make_output_dir
    from recplug_eval.runs import write_trec_run

    out = make_output_dir(output_dir)
    paths: dict[str, Path] = {}
    for s in report.systems:
        if s.run is not None:
            paths[f"run:{s.name}"] = write_trec_run(s.run, out / "runs" / f"{safe_name(s.name)}.trec", tag=safe_name(s.name))
        if s.per_query is not None:  # one row per judged query, one column per measure (ir-measures names)
            target = out / "per_query" / f"{safe_name(s.name)}.tsv"
            atomic_save_with(target, partial(s.per_query.write_csv, separator="\t"))
            paths[f"per_query:{s.name}"] = target
    if summary:
        atomic_write_json(out / "results.json", report.to_json())
        paths["json"] = out / "results.json"
        atomic_write_text(out / "results.md", markdown_report(report, title))
        paths["markdown"] = out / "results.md"
    paths["plot"] = plot_report(report, out / "plot.png")
    return paths
