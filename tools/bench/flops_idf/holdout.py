"""Stage 2b: settings chosen without the test split: the last 100 SciFact *train* queries, kept out of training.

Scores the references (BM25, MiniLM dense, WordPiece lexical) and the untrained head at several embedding-skip
/ bias settings on those queries (full-corpus retrieval, nDCG@10 and R@100), and lists any held-out training
runs found in the cache (``train_students.py --holdout 100`` writes them) next to the runs already recorded in
``results_holdout.json``, which it rewrites.

Run: ``nice -n 10 .venv/bin/python -m tools.bench.flops_idf.holdout``
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from recplug_eval import native_bf16

from .caches import corpus_idf_cached, head_terms, load_examples
from .common import (
    CORPUS_STATES,
    add_run_arguments,
    cache_root,
    configure,
    holdout_size,
    load_scifact,
    results_dir,
    set_threads,
)
from .scoring import metrics, run_of, sparse_metrics
from .teachers import bm25_retriever, bm25_tokens

# (skip_scale, init_bias) of the untrained head; (2.0, -3.5) is SparseDocEncoder's default
UNTRAINED = [(0.0, -2.5), (1.0, -2.5), (2.0, -3.5), (4.0, -6.0)]
LEXICAL_WEIGHTS = [0.5, 1.0, 2.0, 3.0, 4.0]  # lexical channel weights tried on the untrained (2.0, -3.5) head


def holdout_queries() -> list[str]:
    """The train queries that ``train_students --holdout 100`` keeps out (the last of train_examples.npz)."""
    return load_examples()[1][-holdout_size():]


def lexical_docs(doc_texts: list[str]):
    """Binary WordPiece term matrix of the documents (N x V CSR): each document's distinct terms, weight 1."""
    from recplug_flops_idf.query_encoder import term_matrix
    from recplug_flops_idf.vocab import load_vocabulary

    vocab = load_vocabulary()
    terms = [np.unique(t) for t in vocab.token_ids(doc_texts)]
    return term_matrix(terms, [np.ones(len(t)) for t in terms], vocab.size)


def lexical_channel_docs(doc_texts: list[str], weight: float = 1.0):
    """``weight * w_lex`` of every document (N x V CSR; :mod:`recplug_flops_idf.lexical`, Lucene's k1 / b, avgdl
    of the corpus), from the cached states' token ids: what the head's lexical channel adds (cached)."""
    import scipy.sparse as sp

    path = cache_root() / "docs_lexical_channel.npz"
    if not path.exists():
        import torch
        from recplug_flops_idf.backbone import HiddenStates
        from recplug_flops_idf.lexical import LexicalChannel, average_length, tf_saturation
        from recplug_flops_idf.vocab import load_vocabulary

        vocab = load_vocabulary()
        states = HiddenStates.load(cache_root() / CORPUS_STATES)
        columns = states.token_ids.astype(np.int64)
        columns[np.isin(columns, vocab.special_ids)] = -1
        channel = LexicalChannel(weight=1.0, average_length=average_length(columns, len(states)))
        blocks = []
        for start in range(0, len(states), 256):
            stop = min(start + 256, len(states))
            lo, hi = states.offsets[start], states.offsets[stop]
            w = tf_saturation(torch.from_numpy(columns[lo:hi]), states.offsets[start : stop + 1] - lo, vocab.size, channel)
            blocks.append(sp.csr_matrix(w.numpy()))
        sp.save_npz(path, sp.vstack(blocks, format="csr"))
    return weight * sp.load_npz(path)


def untrained_docs(skip_scale: float, init_bias: float, doc_texts: list[str]):
    """Documents (N x V CSR) of an untrained tied head with this skip / bias (cached)."""
    import scipy.sparse as sp

    path = cache_root() / f"docs_untrained_skip{skip_scale:g}_bias{init_bias:g}.npz"
    if not path.exists():
        import torch
        from recplug_flops_idf.backbone import HiddenStates, load_backbone
        from recplug_flops_idf.doc_encoder import SparseHead, encode_hidden_states

        torch.manual_seed(0)
        head = SparseHead(load_backbone().embeddings.word_embeddings.weight, head_terms(doc_texts),
                          init_bias=init_bias, bf16=native_bf16(), skip_scale=skip_scale)
        states = HiddenStates.load(cache_root() / CORPUS_STATES)
        sp.save_npz(path, encode_hidden_states(head, states, progress=True))
    return sp.load_npz(path)


def main(argv: list[str] | None = None) -> None:
    configure(add_run_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv))
    set_threads(2)
    from recplug.builtins.exact_index import top_k

    data, out = load_scifact(), cache_root()
    held = holdout_queries()
    qrow = {q: i for i, q in enumerate(data.query_ids)}
    qrels = {q: data.qrels["train"][q] for q in held}
    idf = corpus_idf_cached(data.doc_texts)
    systems: dict[str, dict] = {}

    retriever, stemmer = bm25_retriever(data.doc_texts)
    ids, scores = retriever.retrieve(bm25_tokens([data.query_texts[qrow[q]] for q in held], stemmer), k=100,
                                     show_progress=False, n_threads=1)
    systems["BM25 (bm25s)"] = metrics(run_of(held, data.doc_ids, ids, scores), qrels)
    with np.load(out / CORPUS_STATES, allow_pickle=False) as z:
        dense_d = z["dense"]
    pos, sc = top_k(np.load(out / "queries_dense.npy")[[qrow[q] for q in held]] @ dense_d.T, 100)
    systems["MiniLM-L6 dense (first 512 tokens)"] = metrics(run_of(held, data.doc_ids, pos, sc), qrels)
    systems["WordPiece lexical (binary docs, IDF queries)"] = sparse_metrics(lexical_docs(data.doc_texts), data, idf, held)
    for skip, bias in UNTRAINED:
        label = f"untrained head, skip {skip:g}, bias {bias:g}"
        systems[label] = sparse_metrics(untrained_docs(skip, bias, data.doc_texts), data, idf, held)
        print(label, systems[label], flush=True)
    systems["lexical channel alone (WordPiece BM25)"] = sparse_metrics(lexical_channel_docs(data.doc_texts), data, idf, held)
    for weight in LEXICAL_WEIGHTS:
        label = f"untrained head, skip 2, bias -3.5, lexical channel {weight:g}"
        docs = (untrained_docs(2.0, -3.5, data.doc_texts) + lexical_channel_docs(data.doc_texts, weight)).tocsr()
        systems[label] = sparse_metrics(docs, data, idf, held)
        print(label, systems[label], flush=True)

    runs = []
    for path in sorted(out.glob("history_*_holdout*.json")):
        rec = json.loads(path.read_text())
        if rec.get("holdout_queries") != holdout_size():
            continue
        cfg = rec["config"]
        runs.append({"file": path.name, "regularizer": rec["regularizer"], "steps": cfg["steps"],
                     "lr": cfg["lr"], "bias_lr": cfg["bias_lr"], "lambda": rec["lambda"],
                     "skip_scale": rec.get("skip_scale", 0.0), "init_bias": rec.get("init_bias"),
                     "transform": rec.get("transform", False), "lexical_weight": rec.get("lexical_weight", 0.0),
                     "kl_weight": cfg.get("kl_weight", 1.0),
                     "contrastive_weight": cfg.get("contrastive_weight", 1.0),
                     "train_seconds": rec["train_seconds"], "doc_nnz_last_batch": rec["history"][-1]["doc_nnz"],
                     "nDCG@10": rec["holdout_nDCG@10"]})
    previous = results_dir() / "results_holdout.json"
    if previous.exists():  # keep runs recorded earlier whose history files are not in this machine's cache
        found = {r["file"] for r in runs}
        runs = [r for r in json.loads(previous.read_text()).get("trained_runs", []) if r["file"] not in found] + runs
    result = {"holdout_queries": holdout_size(), "systems": systems, "trained_runs": runs}
    previous.write_text(json.dumps(result, indent=1))
    print("wrote", previous)


if __name__ == "__main__":
    main()
