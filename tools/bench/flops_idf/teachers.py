"""Stage 2: BM25 (bm25s) runs, hard negatives and ensemble teacher scores for SciFact train (cached).

Train queries only: each gets its first judged document as positive and hard negatives from the BM25 and
dense top-30 (judged documents excluded). Teachers: dense all-MiniLM-L6-v2 (cosine of the cached
embeddings) and BM25 (bm25s scores), min-max normalised per query, averaged, scaled by 30.
"""

from __future__ import annotations

import argparse

import numpy as np

from .common import CORPUS_STATES, add_run_arguments, cache_root, configure, load_scifact

NEGATIVES_BM25, NEGATIVES_DENSE, POOL = 4, 3, 30


def bm25_retriever(doc_texts: list[str]):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(doc_texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    return retriever, stemmer


def bm25_tokens(texts: list[str], stemmer):
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False)


def main(argv: list[str] | None = None) -> None:
    configure(add_run_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv))
    from recplug_flops_idf.distill import ensemble_scores
    from recplug_flops_idf.vocab import load_vocabulary

    data, out = load_scifact(), cache_root()
    dense_q = np.load(out / "queries_dense.npy")
    with np.load(out / CORPUS_STATES, allow_pickle=False) as z:
        dense_d = z["dense"]
    retriever, stemmer = bm25_retriever(data.doc_texts)
    row_of = {d: i for i, d in enumerate(data.doc_ids)}
    qrow = {q: i for i, q in enumerate(data.query_ids)}
    vocab = load_vocabulary()
    rng = np.random.default_rng(0)
    train = sorted(data.qrels["train"], key=lambda q: qrow[q])
    tokens = bm25_tokens([data.query_texts[qrow[q]] for q in train], stemmer)
    rows, bm25, dense, kept = [], [], [], []
    for q, toks in zip(train, tokens, strict=True):
        judged = {row_of[d] for d in data.qrels["train"][q]}
        positive = row_of[next(iter(data.qrels["train"][q]))]
        s_bm25 = retriever.get_scores(toks) if toks else np.zeros(len(data.doc_ids))
        s_dense = dense_d @ dense_q[qrow[q]]
        pools = [[r for r in np.argsort(-s)[:POOL] if r not in judged] for s in (s_bm25, s_dense)]
        negs = list(rng.choice(pools[0], NEGATIVES_BM25, replace=False))
        negs += list(rng.choice([r for r in pools[1] if r not in negs], NEGATIVES_DENSE, replace=False))
        cand = np.array([positive, *negs], np.int64)
        rows.append(cand)
        bm25.append(s_bm25[cand])
        dense.append(s_dense[cand])
        kept.append(q)
    bm25_a, dense_a = np.array(bm25), np.array(dense)
    teacher = ensemble_scores({"dense": dense_a, "bm25": bm25_a}, scale=30.0)
    terms = [np.unique(t) for t in vocab.token_ids([data.query_texts[qrow[q]] for q in kept])]
    lengths = np.array([len(t) for t in terms])
    np.savez(out / "train_examples.npz", query_ids=np.array(kept), rows=np.array(rows), teacher=teacher,
             bm25=bm25_a, dense=dense_a, term_lengths=lengths, terms=np.concatenate(terms))
    agree = float(np.mean(np.argmax(bm25_a, 1) == np.argmax(dense_a, 1)))
    print(f"{len(kept)} train examples, C={len(rows[0])}; teachers agree on the top candidate for {agree:.2f}")


if __name__ == "__main__":
    main()
