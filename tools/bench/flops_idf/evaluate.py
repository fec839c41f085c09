"""Stage 4: SciFact test NDCG@10 / Recall@100, FLOPS per query and query latency; writes results.*.

Systems: BM25 (bm25s), MiniLM dense, the student trained with plain FLOPS, the student trained with
IDF-aware FLOPS, each student at its own sparsity and both pruned to the same average document length.
Latency (same run, same machine): bm25s vs this plugin's inverted index vs a scipy sparse product.

Run: ``nice -n 10 .venv/bin/python tools/bench/flops_idf/evaluate.py``
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from recplug.cpu_features import native_bf16

sys.path.insert(0, str(Path(__file__).parent))
from common import CORPUS_STATES, cache_root, load_scifact, set_threads, test_split
from teachers import bm25_retriever, bm25_tokens
from train_students import corpus_idf_cached, head_terms

HERE = Path(__file__).parent
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


def student_docs(name: str, hidden_path: Path):
    import scipy.sparse as sp

    out = cache_root() / f"docs_{name}.npz"
    if out.exists():
        return sp.load_npz(out)
    from recplug_flops_idf.backbone import HiddenStates, load_backbone
    from recplug_flops_idf.doc_encoder import encode_hidden_states, load_head

    states = HiddenStates.load(hidden_path)
    head = load_head(cache_root() / f"head_{name}.pt", load_backbone().embeddings.word_embeddings.weight, bf16=native_bf16())
    start = time.perf_counter()
    docs = encode_hidden_states(head, states, progress=True)
    print(f"[encode {name}] {time.perf_counter() - start:.0f} s", flush=True)
    sp.save_npz(out, docs)
    return docs


def threshold_for(docs, target_nnz: float) -> float:
    """Smallest weight kept so that the average document keeps about ``target_nnz`` terms."""
    keep = round(target_nnz * docs.shape[0])
    if keep >= docs.nnz:
        return 0.0
    return float(np.partition(docs.data, docs.nnz - keep)[docs.nnz - keep])


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


def main() -> None:
    set_threads(2)

    from recplug_flops_idf.index import InvertedIndex
    from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder
    from recplug_flops_idf.vocab import load_vocabulary

    data, out = load_scifact(), cache_root()
    qrels, test_q, test_text = test_split(data)
    qrow = {q: i for i, q in enumerate(data.query_ids)}
    vocab, idf = load_vocabulary(), corpus_idf_cached(data.doc_texts)
    head_terms(data.doc_texts)
    results: dict = {"systems": {}, "latency": {}, "setup": {}}

    # ---------------------------------------------------------------- BM25 (bm25s)
    retriever, stemmer = bm25_retriever(data.doc_texts)
    q_tokens = bm25_tokens(test_text, stemmer)
    docs_b, scores_b = retriever.retrieve(q_tokens, k=K, show_progress=False, n_threads=1)
    results["systems"]["BM25 (bm25s)"] = {**metrics(run_of(test_q, data.doc_ids, docs_b, scores_b), qrels)}
    bm25_csc = retriever.scores
    vocab_b = retriever.vocab_dict
    df_b = np.diff(bm25_csc["indptr"])
    results["systems"]["BM25 (bm25s)"]["flops_per_query"] = float(np.mean(
        [sum(int(df_b[vocab_b[t]]) for t in set(toks) if t in vocab_b) for toks in q_tokens]))

    # ---------------------------------------------------------------- dense MiniLM
    dense_q = np.load(out / "queries_dense.npy")[[qrow[q] for q in test_q]]
    with np.load(out / CORPUS_STATES, allow_pickle=False) as z:
        dense_d = z["dense"]
    from recplug.builtins.exact_index import top_k

    pos, sc = top_k(dense_q @ dense_d.T, K)
    results["systems"]["MiniLM-L6 dense (all-MiniLM-L6-v2, first 512 tokens)"] = {
        **metrics(run_of(test_q, data.doc_ids, pos, sc), qrels), "flops_per_query": float(dense_d.size)}

    # ---------------------------------------------------------------- students
    hidden_path = out / CORPUS_STATES
    students = {name: student_docs(name, hidden_path) for name in ("flops", "flops-idf")}
    nnz = {name: float(d.getnnz(axis=1).mean()) for name, d in students.items()}
    target = min(nnz.values())
    results["setup"].update({"doc_nnz_native": nnz, "matched_doc_nnz_target": target})
    binary = InferenceFreeQueryEncoder(vocab, idf, weighting="binary").encode(test_text)
    indexes = {}
    for name, docs in students.items():
        for matched in (False, True):
            cut = threshold_for(docs, target) if matched else 0.0
            for search_idf in ((False, True) if name == "flops" else (True,)):
                index = InvertedIndex(vocab.size, idf=idf if search_idf else None, prune_below=cut,
                                      vocab_sha256=vocab.checksum)
                index.add(docs, np.arange(docs.shape[0]))
                result = index.search(binary, K)
                label = f"student + {'IDF-aware FLOPS' if name == 'flops-idf' else 'FLOPS'}"
                label += f" [{'matched' if matched else 'native'} sparsity"
                label += ", IDF queries at search]" if (search_idf and name == "flops") else "]"
                results["systems"][label] = {
                    **metrics(run_of(test_q, data.doc_ids, result.ids, result.scores), qrels),
                    "flops_per_query": flops_per_query(index, binary),
                    "doc_nnz": index.nnz / len(index), "prune_below": cut,
                }
                indexes[(name, matched, search_idf)] = index
                print(label, results["systems"][label], flush=True)

    # ---------------------------------------------------------------- latency, same run
    index = indexes[("flops-idf", True, True)]
    post = index._folded()
    by_term = post.T.tocsr()  # V x N, IDF folded

    def ours_loop():
        for i in range(binary.shape[0]):
            index.search(binary[i], 10)

    def ours_batch():
        index.search(binary, 10)

    def scipy_loop():
        for i in range(binary.shape[0]):
            s = (binary[i] @ by_term).toarray()[0]
            top_k(s[None, :], 10)

    def scipy_batch():
        top_k((binary @ by_term).toarray(), 10)

    def bm25_loop():
        for toks in q_tokens:
            retriever.retrieve([toks], k=10, show_progress=False, n_threads=1)

    def bm25_batch():
        retriever.retrieve(q_tokens, k=10, show_progress=False, n_threads=1)

    def ours_end_to_end():
        enc = InferenceFreeQueryEncoder(vocab, idf, weighting="binary")
        for text in test_text:
            index.search(enc.encode([text]), 10)

    def bm25_end_to_end():
        import bm25s

        for text in test_text:
            retriever.retrieve(bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False),
                               k=10, show_progress=False, n_threads=1)

    n = binary.shape[0]
    for label, fn in [("bm25s, one query at a time", bm25_loop), ("inverted index (ours), one query at a time", ours_loop),
                      ("scipy CSR product, one query at a time", scipy_loop), ("bm25s, batch of all queries", bm25_batch),
                      ("inverted index (ours), batch of all queries", ours_batch),
                      ("scipy CSR product, batch of all queries", scipy_batch),
                      ("bm25s incl. tokenization, one at a time", bm25_end_to_end),
                      ("ours incl. tokenization, one at a time", ours_end_to_end)]:
        fn()  # warm-up
        results["latency"][label] = median_time(fn) / n * 1e3
        print(f"{label}: {results['latency'][label]:.3f} ms/query", flush=True)
    results["setup"].update({
        "queries": n, "documents": len(data.doc_ids), "k_latency": 10, "repeats": REPEATS,
        "bm25s_backend": getattr(retriever, "backend", "numpy"), "machine": platform.processor() or platform.machine(),
        "threads": 2, "index_doc_nnz_latency": index.nnz / len(index),
    })
    for name in ("flops", "flops-idf"):
        path = out / f"history_{name}.json"
        if path.exists():
            results["setup"][f"train_{name}"] = json.loads(path.read_text())
    (HERE / "results.json").write_text(json.dumps(results, indent=1))
    print("wrote", HERE / "results.json")


if __name__ == "__main__":
    main()
