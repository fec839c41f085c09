"""Scoring shared by the stages: runs, nDCG@10 / R@100 (ir-measures), pruning thresholds, FLOPS, timing."""

from __future__ import annotations

import statistics
import time

import numpy as np

K = 100
REPEATS = 3


def metrics(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """nDCG@10 and R@100 over every judged query, with recplug-eval's ir-measures wrapper."""
    import polars as pl
    from recplug_eval.metrics import evaluate_run

    run_frame = pl.DataFrame([(q, d, s) for q, docs in run.items() for d, s in docs.items()],
                             schema=["query_id", "doc_id", "score"], orient="row")
    qrel_frame = pl.DataFrame([(q, d, r) for q, docs in qrels.items() for d, r in docs.items()],
                              schema=["query_id", "doc_id", "relevance"], orient="row")
    return evaluate_run(qrel_frame, run_frame, ["nDCG@10", "R@100"]).aggregate


def run_of(qids, doc_ids, positions, scores) -> dict[str, dict[str, float]]:
    return {q: {doc_ids[p]: float(s) for p, s in zip(pos, sc, strict=True) if p >= 0 and np.isfinite(s)}
            for q, pos, sc in zip(qids, positions, scores, strict=True)}


def sparse_metrics(docs, data, idf, query_ids: list[str]) -> dict[str, float]:
    """nDCG@10 / R@100 of train queries ``query_ids`` over the whole corpus, IDF folded into ``docs`` (N x V)."""
    from recplug_flops_idf.index import InvertedIndex
    from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder
    from recplug_flops_idf.vocab import load_vocabulary

    vocab = load_vocabulary()
    index = InvertedIndex(vocab.size, idf=idf, vocab_sha256=vocab.checksum)
    index.add(docs, np.arange(docs.shape[0]))
    qrow = {q: i for i, q in enumerate(data.query_ids)}
    queries = InferenceFreeQueryEncoder(vocab, idf, weighting="binary").encode([data.query_texts[qrow[q]] for q in query_ids])
    result = index.search(queries, 100)
    qrels = {q: data.qrels["train"][q] for q in query_ids}
    return {**metrics(run_of(query_ids, data.doc_ids, result.ids, result.scores), qrels),
            "doc_nnz": index.nnz / len(index)}


def flops_per_query(index, queries) -> float:
    """Mean number of postings a query touches (the multiply-adds of an inverted-index search)."""
    lengths = np.diff(index._folded().indptr)
    return float(np.mean([lengths[queries.indices[queries.indptr[i]:queries.indptr[i + 1]]].sum()
                          for i in range(queries.shape[0])]))


def median_time(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
