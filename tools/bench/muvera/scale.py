"""Cost as the corpus grows (issue 34, first steps): exact Chamfer and MUVERA on nested samples of the large corpus.

The corpus is the folder ``build_corpus.py`` writes (BEIR layout, no qrels): a seeded sample of its passages is
encoded once with MiniLM token embeddings (the shared, cached pass ``recplug eval`` uses), and each size is a
prefix of that sample, so every size reads the same cached vectors. Per size and system, in one run: index build
time, memory at query time (the index's own count) and bytes per document, batch search time, one-query-at-a-time
p50 / p95 (a bounded sample), and Recall@10 against exact Chamfer's top 10 (no human judgments). MUVERA runs in the
configuration ``recplug demo`` recommends for this CPU (:func:`recplug_muvera.demo.recommended`).

``.venv/bin/python -m tools.bench.muvera.scale --corpus out/corpora/debian-man --sizes 10000 20000 40000``
writes ``tools/bench/muvera/scale/results.json``, ``results.md`` and ``cost_growth.png``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "scale"
SYSTEMS = ("exact-chamfer", "muvera")


def read_folder(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """``(doc_ids, doc texts, query texts)`` of a BEIR folder (texts as ``recplug eval`` builds them)."""
    from recplug_eval.datasets.beir import BeirDataset, document_texts

    data = BeirDataset(folder)
    corpus = data.corpus()
    return corpus["doc_id"].to_list(), document_texts(corpus), data.queries()["text"].to_list()


def one_at_a_time(index: Any, queries: Any, k: int, seconds: float) -> list[float]:
    """Milliseconds per single-query search over the queries in order, stopped after ``seconds`` (at least the
    ``MIN_LATENCY_QUERIES`` of ``recplug eval``'s ``latency_seconds``), after one untimed warm-up search."""
    from recplug_eval.runner import MIN_LATENCY_QUERIES

    minimum = MIN_LATENCY_QUERIES
    index.search(queries.select([0]), k)
    elapsed: list[float] = []
    for i in range(len(queries)):
        if len(elapsed) >= minimum and sum(elapsed) >= 1000 * seconds:
            break
        start = time.perf_counter()
        index.search(queries.select([i]), k)
        elapsed.append(1000 * (time.perf_counter() - start))
    return elapsed


def measure(size: int, docs: Any, ids: np.ndarray, queries: Any, args: argparse.Namespace, pm: Any,
            chosen: Any) -> dict[str, Any]:
    """Both systems over the first ``size`` documents; MUVERA in ``chosen`` (a ``MuveraDemoConfig``)."""
    from tools.bench.muvera.bench_muvera import recall_vs

    configs = {"exact-chamfer": ("chamfer-exact", {}), "muvera": ("muvera-chamfer", dict(chosen.index_config))}
    subset = docs.select(np.arange(size))
    row: dict[str, Any] = {"documents": size, "token_vectors": int(subset.offsets[-1]), "systems": {}}
    exact_ids = None
    for system in SYSTEMS:
        name, config = configs[system]
        index = pm.create("retrieval_index", name, dimension=docs.dimension, **config)
        start = time.perf_counter()
        index.add(subset, ids[:size])
        build = time.perf_counter() - start
        start = time.perf_counter()
        result = index.search(queries, args.k)
        batch = time.perf_counter() - start
        singles = one_at_a_time(index, queries, args.k, args.latency_seconds)
        memory = int(index.memory_bytes())
        entry = {"index": name, "config": config, "build_s": build, "batch_ms_per_query": 1000 * batch / len(queries),
                 "p50_ms": float(np.percentile(singles, 50)), "p95_ms": float(np.percentile(singles, 95)),
                 "timed_queries": len(singles), "memory_bytes": memory, "bytes_per_document": memory / size}
        if system == "exact-chamfer":
            exact_ids = result.ids
        else:
            entry["R@10 vs exact"] = recall_vs(exact_ids, result.ids, 10)
            entry["configuration"] = chosen.name
        row["systems"][system] = entry
        print(f"{size:>7,} docs  {system:14s} build {build:7.1f} s  batch {entry['batch_ms_per_query']:8.2f} ms/q  "
              f"p50 {entry['p50_ms']:8.2f} ms  p95 {entry['p95_ms']:8.2f} ms  memory {memory / 2**20:8.1f} MiB"
              + (f"  R@10 vs exact {entry['R@10 vs exact']:.3f}" if "R@10 vs exact" in entry else ""), flush=True)
    return row


def markdown(results: dict[str, Any]) -> str:
    from recplug_eval.tables import markdown_table

    rows = []
    for row in results["rows"]:
        for system, e in row["systems"].items():
            rows.append([f"{row['documents']:,}", system, e["build_s"], e["bytes_per_document"] / 1024,
                         e["memory_bytes"] / 2**20, e["batch_ms_per_query"], e["p50_ms"], e["p95_ms"],
                         e.get("R@10 vs exact")])
    table = markdown_table(["documents", "system", "build s", "KiB / document", "memory MiB", "batch ms/query",
                            "1-query p50 ms", "1-query p95 ms", "R@10 vs exact"], rows,
                           floatfmt=["", "", ".1f", ".1f", ".0f", ".2f", ".2f", ".2f", ".3f"])
    setup = results["setup"]
    return "\n".join([
        "# MUVERA and exact Chamfer as the corpus grows (issue 34, first steps)",
        "",
        f"Corpus: {setup['corpus_passages']:,} passages of `{setup['corpus']}` (built by `build_corpus.py`; no "
        f"judgments), a seeded sample (seed {setup['seed']}) of which each size is a prefix; {setup['queries']} "
        f"held-out queries. MiniLM token embeddings (the shared cached pass), {setup['threads']} torch threads, "
        f"{setup['cpu']}. MUVERA: `{setup['muvera']}` (the demo's recommendation for this CPU). One-query timings: "
        f"the queries in order, stopped after {setup['latency_seconds']:g} s per system (at least 20).",
        "",
        f"Command: `{setup['command']}`",
        "",
        table,
        "",
        "Memory: what the index itself counts for search (exact: the token store; MUVERA: FDE index plus its rerank "
        "store). Build: `index.add` of the size's documents, their token embeddings already computed (the MiniLM "
        "pass is not counted).",
        "",
        "![cost as the corpus grows](cost_growth.png)",
        "",
    ])


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["documents"] for r in results["rows"]]
    panels = [("build_s", "index build (s)"), ("bytes_per_document", "bytes per document"),
              ("p50_ms", "1-query p50 (ms)"), ("p95_ms", "1-query p95 (ms)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 3.8), layout="constrained")
    for ax, (key, label) in zip(axes, panels, strict=True):
        for system, marker in zip(SYSTEMS, "oD", strict=True):
            ax.plot(sizes, [r["systems"][system][key] for r in results["rows"]], marker=marker, label=system)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("documents (log scale)")
        ax.set_title(label)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(loc="upper left")
    from recplug.fileio import atomic_save_with

    atomic_save_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder written by build_corpus.py")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 40_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import torch
    from recplug.fileio import atomic_write_json, atomic_write_text
    from recplug_eval import cpu_model
    from recplug_muvera.demo import recommended

    doc_ids, texts, query_texts = read_folder(args.corpus)
    sizes = sorted(set(args.sizes))
    if sizes[-1] > len(texts):
        raise SystemExit(f"--sizes: {sizes[-1]:,} exceeds the corpus's {len(texts):,} passages")
    order = np.random.default_rng(args.seed).permutation(len(texts))[: sizes[-1]]
    from recplug.manager import load_plugin_manager

    pm, chosen = load_plugin_manager(), recommended()
    encoder = pm.create("retrieval_encoder", "minilm-tokens")
    start = time.perf_counter()
    docs = encoder.encode_documents([texts[i] for i in order])  # cached: the shared MiniLM pass of this sample
    encode_s = time.perf_counter() - start
    queries = encoder.encode_queries(query_texts)
    ids = np.asarray([doc_ids[i] for i in order])
    results: dict[str, Any] = {
        "setup": {"corpus": args.corpus.name, "corpus_passages": len(texts), "queries": len(query_texts),
                  "seed": args.seed, "sizes": sizes, "k": args.k, "latency_seconds": args.latency_seconds,
                  "threads": torch.get_num_threads(), "cpu": cpu_model(), "python": platform.python_version(),
                  "muvera": chosen.name, "encode_documents_s": encode_s,
                  "command": "python -m tools.bench.muvera.scale --corpus DIR --sizes "
                             + " ".join(str(s) for s in sizes)
                             + ("" if os.environ.get("OMP_NUM_THREADS") is None
                                else f"  (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})")},
        "rows": [],
    }
    for size in sizes:
        results["rows"].append(measure(size, docs, ids, queries, args, pm, chosen))
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out / "results.json", results)  # every finished size is kept
    plot(results, args.out / "cost_growth.png")
    atomic_write_text(args.out / "results.md", markdown(results))
    print(f"wrote {args.out / 'results.md'}; token encoding {encode_s:.0f} s (cached afterwards)")
    assert all(math.isfinite(r["systems"]["muvera"]["R@10 vs exact"]) for r in results["rows"])


if __name__ == "__main__":
    main()
