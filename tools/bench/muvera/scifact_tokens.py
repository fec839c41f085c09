"""SciFact (BEIR layout) reader and cached MiniLM token embeddings for the MUVERA benchmark.

Run alone to fill the token cache: ``nice -n 10 .venv/bin/python -m tools.bench.muvera.scifact_tokens [SUBSET_SIZE]``.
Documents are ``title + " " + text`` built by :func:`recplug_eval.datasets.beir.document_texts` (as ``recplug eval``
builds them), so the token embeddings come from the same shared MiniLM forward-pass cache as the dense and
token encoders of ``recplug eval`` / ``recplug demo`` (one pass per corpus); queries are the test claims.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def scifact_dir() -> Path:
    """SciFact in the shared data folder (``$RECPLUG_SHARED_DATA`` or ``shared/data`` beside the repository)."""
    from recplug_eval.paths import shared_data_dir

    return shared_data_dir() / "beir" / "scifact"


def read_scifact(split: str = "test") -> tuple[list[str], list[str], list[str], list[str], dict[str, dict[str, int]]]:
    """(doc_ids, doc_texts, query_ids, query_texts, qrels) with only the queries judged in ``split``."""
    folder = scifact_dir()
    corpus = folder / "corpus.jsonl.gz"
    opener = gzip.open if corpus.exists() else open
    corpus = corpus if corpus.exists() else folder / "corpus.jsonl"
    import polars as pl
    from recplug_eval.datasets.beir import document_texts

    doc_ids, titles, bodies = [], [], []
    with opener(corpus, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                obj = json.loads(line)
                doc_ids.append(str(obj["_id"]))
                titles.append(obj.get("title") or "")
                bodies.append(obj["text"])
    doc_texts = document_texts(pl.DataFrame({"title": titles, "text": bodies}, schema={"title": pl.String, "text": pl.String}))
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)
        for qid, did, score in reader:
            qrels.setdefault(qid, {})[did] = int(score)
    query_ids, query_texts = [], []
    with open(folder / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                obj = json.loads(line)
                if str(obj["_id"]) in qrels:
                    query_ids.append(str(obj["_id"]))
                    query_texts.append(obj["text"])
    return doc_ids, doc_texts, query_ids, query_texts, qrels


def subset(
    doc_ids: list[str], doc_texts: list[str], qrels: dict, size: int | None, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Every document judged for the split's queries plus a seeded random sample of the others, ``size``
    documents in all, in corpus order (``None``: the whole corpus)."""
    if size is None or size >= len(doc_ids):
        return doc_ids, doc_texts
    import numpy as np

    judged = {d for rels in qrels.values() for d in rels}
    keep = np.array([d in judged for d in doc_ids])
    others = np.flatnonzero(~keep)
    extra = max(0, size - int(keep.sum()))
    keep[np.random.default_rng(seed).choice(others, size=extra, replace=False)] = True
    return [d for d, k in zip(doc_ids, keep, strict=True) if k], [t for t, k in zip(doc_texts, keep, strict=True) if k]


def token_encoder():
    from recplug_muvera.token_encoder import TokenEmbeddingEncoder

    return TokenEmbeddingEncoder(num_threads=int(os.environ.get("OMP_NUM_THREADS", "2")), batch_size=32)


@dataclass
class ScifactTokens:
    """The benchmark's data: ids, qrels and token sets (``MultiVectorBatch``) of documents and queries."""

    doc_ids: list[str]
    query_ids: list[str]
    qrels: dict[str, dict[str, int]]
    corpus_size: int
    encoder_config: dict
    docs: object
    queries: object


def load_tokens(size: int | None, split: str = "test") -> ScifactTokens:
    """Token sets of the test queries and of :func:`subset` (``size`` documents), encoded or from the cache."""
    doc_ids, doc_texts, query_ids, query_texts, qrels = read_scifact(split)
    corpus_size = len(doc_ids)
    doc_ids, doc_texts = subset(doc_ids, doc_texts, qrels, size)
    encoder = token_encoder()
    started = time.perf_counter()
    queries = encoder.encode_queries(query_texts)
    docs = encoder.encode_documents(doc_texts)
    print(
        f"tokens ready ({time.perf_counter() - started:.0f} s; cached after the first run): {len(docs)} docs / "
        f"{docs.values.shape[0]} vectors, {len(queries)} queries / {queries.values.shape[0]} vectors",
        flush=True,
    )
    return ScifactTokens(doc_ids, query_ids, qrels, corpus_size, encoder.config(), docs, queries)


if __name__ == "__main__":
    load_tokens(int(sys.argv[1]) if len(sys.argv) > 1 else None)
