"""Stage 4: SciFact test nDCG@10 / R@100, FLOPS per query and query latency; writes results.*.

Systems: BM25 (bm25s), MiniLM dense, the student trained with plain FLOPS, the student trained with
IDF-aware FLOPS, each student at its own sparsity and both pruned to the same average document length.
Latency (same run, same machine): bm25s vs this plugin's inverted index vs a scipy sparse product.

Run: ``nice -n 10 .venv/bin/python -m tools.bench.flops_idf.evaluate``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from recplug_eval import native_bf16
from recplug_flops_idf.pruning import mean_terms_threshold as threshold_for

from .caches import corpus_idf_cached, head_terms
from .common import (
    CORPUS_STATES,
    add_run_arguments,
    cache_root,
    configure,
    load_scifact,
    results_dir,
    set_threads,
    test_split,
)
from .scoring import REPEATS, K, flops_per_query, median_time, metrics, run_of
from .teachers import bm25_retriever, bm25_tokens


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


def main(argv: list[str] | None = None) -> None:
    configure(add_run_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv))
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
    (results_dir() / "results.json").write_text(json.dumps(results, indent=1))
    print("wrote", results_dir() / "results.json")


if __name__ == "__main__":
    main()
