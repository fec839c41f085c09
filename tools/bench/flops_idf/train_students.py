"""Stage 3: train the sparse head with plain FLOPS and with IDF-aware FLOPS (same data, seed and lambda).

Usage: ``nice -n 10 .venv/bin/python tools/bench/flops_idf/train_students.py flops flops-idf``
Writes ``<cache>/flops_idf/head_<name>.pt`` and ``history_<name>.json``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import cache_root, load_scifact, set_threads

STEPS, WARMUP, LAMBDA, BATCH = 150, 75, 0.02, 4


def corpus_idf_cached(doc_texts: list[str]) -> np.ndarray:
    from recplug_flops_idf.idf import corpus_idf
    from recplug_flops_idf.vocab import load_vocabulary

    path = cache_root() / "idf.npy"
    if not path.exists():
        vocab = load_vocabulary()
        np.save(path, corpus_idf(vocab.token_ids(doc_texts), vocab.size))
    return np.load(path)


def head_terms(doc_texts: list[str]) -> np.ndarray:
    """Output vocabulary of the head: every term that occurs in the corpus (special tokens excluded)."""
    from recplug_flops_idf.idf import document_frequencies
    from recplug_flops_idf.vocab import load_vocabulary

    path = cache_root() / "head_terms.npy"
    if not path.exists():
        vocab = load_vocabulary()
        df = document_frequencies(vocab.token_ids(doc_texts), vocab.size)
        np.save(path, np.setdiff1d(np.flatnonzero(df > 0), vocab.special_ids))
    return np.load(path)


def load_examples():
    from recplug_flops_idf.train import TrainingExample

    with np.load(cache_root() / "train_examples.npz", allow_pickle=False) as z:
        splits = np.cumsum(z["term_lengths"])[:-1]
        terms = np.split(z["terms"], splits)
        return [TrainingExample(t, r, s) for t, r, s in zip(terms, z["rows"], z["teacher"], strict=True)]


def main(names: list[str]) -> None:
    set_threads(2)
    import recplug
    import torch
    from recplug_flops_idf.backbone import HiddenStates, load_backbone
    from recplug_flops_idf.doc_encoder import SparseHead
    from recplug_flops_idf.train import TrainConfig, train_head

    data, out = load_scifact(), cache_root()
    idf, terms = corpus_idf_cached(data.doc_texts), head_terms(data.doc_texts)
    states = HiddenStates.load(out / "corpus_hidden_L128.npz")
    examples = load_examples()
    embeddings = load_backbone().embeddings.word_embeddings.weight
    pm = recplug.load_plugin_manager()
    for name in names:
        torch.manual_seed(0)
        head = SparseHead(embeddings, terms, init_bias=-2.5, bf16=True)
        reg = pm.create("regularizer", name, weight=LAMBDA, warmup_steps=WARMUP)
        config = TrainConfig(steps=STEPS, queries_per_batch=BATCH)
        start = time.perf_counter()
        history = train_head(head, states.hidden, states.lengths, examples, reg, idf, config, progress=True)
        seconds = time.perf_counter() - start
        head.save(out / f"head_{name}.pt")
        record = {"regularizer": name, "lambda": LAMBDA, "warmup_steps": WARMUP, "config": asdict(config),
                  "train_seconds": seconds, "examples": len(examples), "history": history}
        (out / f"history_{name}.json").write_text(json.dumps(record, indent=1))
        print(name, f"{seconds:.0f}s", history[-1], flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["flops", "flops-idf"])
