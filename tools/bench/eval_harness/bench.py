"""Benchmark of the evaluation harness on SciFact (test): encoding throughput and search QPS.

Side by side in one run, on the same machine:
* MiniLM encoding throughput (documents: a seeded sample of the corpus, uncached; queries: the 300 test
  queries), and BM25 (bm25s) indexing and query throughput;
* search QPS over the full SciFact corpus (5,183 x 384 MiniLM vectors, from the encodings cache) of every
  installed dense index (core "exact", FAISS flat / HNSW / IVF when present), with R@10 against
  exact search and the speed-up ratio versus "exact";
* the cost of scoring a run (ir-measures).

Writes ``results.json`` and ``results.md`` next to this file (or ``--out``). Run from the repo root:

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python tools/bench/eval_harness/bench.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DENSE_INDEXES = ("exact", "faiss-flat", "faiss-hnsw", "faiss-ivf-flat")


def best_of(fn, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc-sample", type=int, default=256, help="documents encoded uncached for throughput")
    parser.add_argument("--repeats", type=int, default=5, help="search repetitions (best of)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 20 test queries, 150 documents (theirs and a seeded sample), 32 sampled")
    args = parser.parse_args(argv)
    if args.quick:
        args.doc_sample, args.repeats = min(args.doc_sample, 32), 1

    import torch

    torch.set_num_threads(args.threads)
    from recplug import load_plugin_manager
    from recplug.fileio import atomic_write_json, atomic_write_text
    from recplug_eval import markdown_table
    from recplug_eval.datasets.beir import document_texts
    from recplug_eval.embedding_cache import EmbeddingCache
    from recplug_eval.metrics import DEFAULT_MEASURES, evaluate_run
    from recplug_eval.retrievers import Bm25Retriever
    from recplug_eval.runs import run_from_search

    pm = load_plugin_manager()
    data = pm.create("dataset", "scifact")
    corpus, queries, qrels = data.corpus(), data.split_queries("test"), data.qrels("test")
    if args.quick:
        queries = queries.head(20)
        qrels = qrels.filter(qrels["query_id"].is_in(queries["query_id"].to_list()))
        keep = corpus["doc_id"].is_in(qrels["doc_id"].to_list()).to_numpy().copy()
        others = np.flatnonzero(~keep)
        keep[np.random.default_rng(0).choice(others, size=max(0, 150 - int(keep.sum())), replace=False)] = True
        corpus = corpus.filter(keep)
    doc_ids, texts = corpus["doc_id"].to_list(), document_texts(corpus)
    query_texts = queries["text"].to_list()
    q = len(query_texts)
    results: dict = {
        "dataset": {"name": "scifact", "split": "test", "documents": len(texts), "queries": q},
        "threads": args.threads,
        "load_average_before": os.getloadavg(),
    }

    # ---------------------------------------------------------------- encoding throughput
    encoder = pm.create("retrieval_encoder", "minilm", num_threads=args.threads)
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(args.doc_sample, len(texts)), replace=False)]
    encoder.encode_queries(query_texts[:8])  # warm-up
    doc_s = best_of(lambda: encoder.encode_documents(sample), 1)
    query_s = best_of(lambda: encoder.encode_queries(query_texts), 2)
    bm25 = Bm25Retriever()
    bm25_index_s = best_of(lambda: bm25.index_corpus(doc_ids, texts), 1)
    bm25_query_s = best_of(lambda: bm25.retrieve(query_texts, 100), args.repeats)
    results["encoding"] = {
        "minilm_documents_per_s": len(sample) / doc_s,
        "minilm_documents_sampled": len(sample),
        "minilm_queries_per_s": q / query_s,
        "bm25_index_documents_per_s": len(texts) / bm25_index_s,
        "bm25_queries_per_s": q / bm25_query_s,
    }

    # ---------------------------------------------------------------- search QPS (full corpus vectors)
    cache = EmbeddingCache()
    vectors = cache.get_or_compute(encoder.config(), "documents", texts, lambda: encoder.encode_documents(texts))
    query_vectors = encoder.encode_queries(query_texts)
    available = pm.components_of("retrieval_index")
    exact_ids = None
    search_rows = []
    for name in DENSE_INDEXES:
        if name not in available:
            continue
        index = pm.create("retrieval_index", name, dimension=encoder.dimension)
        build_s = best_of(lambda index=index: index.add(vectors, np.asarray(doc_ids)), 1)
        result = index.search(query_vectors, 100)
        search_s = best_of(lambda index=index: index.search(query_vectors, 100), args.repeats)
        single_s = best_of(lambda index=index: [index.search(query_vectors[i : i + 1], 10) for i in range(50)], 1) / 50
        ids10 = np.asarray(result.ids)[:, :10]
        if exact_ids is None:
            exact_ids = ids10
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids10, exact_ids, strict=True)]))
        ndcg = evaluate_run(qrels, run_from_search(queries["query_id"].to_list(), result), ["nDCG@10"]).aggregate
        search_rows.append(
            {
                "index": name,
                "build_s": build_s,
                "batch_qps": q / search_s,
                "single_query_ms": 1000 * single_s,
                "R@10_vs_exact": recall,
                "nDCG@10": ndcg["nDCG@10"],
            }
        )
    base = search_rows[0]["batch_qps"]
    for row in search_rows:
        row["speedup_vs_exact"] = row["batch_qps"] / base
    results["search"] = search_rows

    # ---------------------------------------------------------------- metric cost
    run = run_from_search(queries["query_id"].to_list(), bm25.retrieve(query_texts, 100))
    results["metrics"] = {
        "run_rows": run.height,
        "measures": list(DEFAULT_MEASURES),
        "evaluate_s": best_of(lambda: evaluate_run(qrels, run, DEFAULT_MEASURES), 3),
    }
    results["load_average_after"] = os.getloadavg()
    results["command"] = "OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python tools/bench/eval_harness/bench.py"

    enc = results["encoding"]
    md = [
        "# Evaluation harness benchmark (SciFact test)",
        "",
        f"Command (repo root): `{results['command']}`",
        "",
        f"Machine: {os.cpu_count()} cores shared with other jobs, torch threads {args.threads}; load average "
        f"{results['load_average_before'][0]:.1f} before, {results['load_average_after'][0]:.1f} after "
        "(throughputs are lower bounds on a busy machine).",
        "",
        "## Encoding / indexing throughput",
        "",
        markdown_table(
            ["stage", "items/s"],
            [
                [f"MiniLM documents ({enc['minilm_documents_sampled']} sampled, uncached)", enc["minilm_documents_per_s"]],
                [f"MiniLM queries ({q})", enc["minilm_queries_per_s"]],
                [f"BM25 indexing ({len(texts)} documents)", enc["bm25_index_documents_per_s"]],
                [f"BM25 retrieval ({q} queries, top 100)", enc["bm25_queries_per_s"]],
            ],
            floatfmt=".1f",
        ),
        "",
        f"## Dense search over {len(texts)} x {encoder.dimension} MiniLM vectors ({q} queries, top 100)",
        "",
        markdown_table(
            ["index", "build s", "batch QPS", "speed-up vs exact", "1-query ms (k=10)", "R@10 vs exact", "nDCG@10"],
            [
                [r["index"], r["build_s"], r["batch_qps"], r["speedup_vs_exact"], r["single_query_ms"],
                 r["R@10_vs_exact"], r["nDCG@10"]]
                for r in search_rows
            ],
            floatfmt=".3f",
        ),
        "",
        f"Scoring one run ({run.height} rows, {len(DEFAULT_MEASURES)} measures, ir-measures): "
        f"{results['metrics']['evaluate_s']:.3f} s.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "results.json", results)
    atomic_write_text(args.out / "results.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
