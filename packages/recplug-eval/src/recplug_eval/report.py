"""Reports of an evaluation: ``results.json``, ``results.md``, ``runs/<system>.trec`` and ``plot.png``.

The plot shows quality (the first measure, e.g. nDCG@10) against query latency (ms per query,
encoding + search + rerank) and against the memory the system keeps for search (MB). Drawn with
matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from recplug.fileio import atomic_save_with, atomic_write_json, atomic_write_text

from recplug_eval.tables import markdown_table


def safe_name(name: str) -> str:
    """A file-name and TREC-tag friendly form of a system name."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", name).strip("-") or "system"


def results_table(report: Any) -> str:
    """The markdown table: one row per system, one column per measure, then latency, QPS and memory."""
    measures = list(report.systems[0].metrics)
    headers = ["system", *measures, "ms/query", "search QPS", "memory MB"]
    rows = []
    for s in report.systems:
        memory = None if s.memory_bytes is None else s.memory_bytes / 2**20
        rows.append(
            [
                s.name,
                *(s.metrics[m] for m in measures),
                f"{s.query_latency_ms:.2f}",
                f"{s.search_qps:.0f}",
                "" if memory is None else f"{memory:.1f}",
            ]
        )
    return markdown_table(headers, rows)


def markdown_report(report: Any, title: str = "Retrieval evaluation") -> str:
    d = report.dataset
    lines = [
        f"# {title}",
        "",
        f"Dataset `{d['name']}` split `{d['split']}`: {d['documents']} documents, {d['judged_queries']} judged queries, "
        f"{d['judgments']} judgments; top {report.config.k} per query.",
        "",
        results_table(report),
        "",
        "ms/query: query encoding + search (+ rerank) per query; search QPS: index search alone; memory: "
        "what the system keeps for search (document vectors or BM25 score matrix).",
    ]
    notes = d.get("load_notes") or {}
    if notes:
        lines += ["", "Loader notes: " + "; ".join(f"{k}: {v}" for k, v in notes.items())]
    return "\n".join(lines) + "\n"


def plot_report(report: Any, path: str | Path) -> Path:
    """Quality vs latency and vs memory, one point per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measure = next(iter(report.systems[0].metrics))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for s in report.systems:
        quality = s.metrics[measure]
        axes[0].scatter(s.query_latency_ms, quality)
        axes[0].annotate(s.name, (s.query_latency_ms, quality), textcoords="offset points", xytext=(4, 4))
        if s.memory_bytes:
            axes[1].scatter(s.memory_bytes / 2**20, quality)
            axes[1].annotate(s.name, (s.memory_bytes / 2**20, quality), textcoords="offset points", xytext=(4, 4))
    axes[0].set_xscale("log")
    axes[0].set_xlabel("query latency (ms/query, log)")
    axes[1].set_xlabel("search memory (MB)")
    for ax in axes:
        ax.margins(0.2)
        ax.set_ylabel(measure)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{report.dataset['name']} {report.dataset['split']}: {measure}")
    fig.tight_layout()
    atomic_save_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return Path(path)


def write_report(report: Any, output_dir: str | Path, title: str = "Retrieval evaluation") -> dict[str, Path]:
    """Write every report file into ``output_dir``; returns their paths by kind."""
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
    atomic_write_json(out / "results.json", report.to_json())
    paths["json"] = out / "results.json"
    atomic_write_text(out / "results.md", markdown_report(report, title))
    paths["markdown"] = out / "results.md"
    paths["plot"] = plot_report(report, out / "plot.png")
    return paths
