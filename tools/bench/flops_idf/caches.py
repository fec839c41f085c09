"""Cached per-corpus inputs of the students, shared by the stages: IDF, the head's terms, the training examples."""

from __future__ import annotations

import numpy as np

from .common import cache_root


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
    """The training examples ``teachers.py`` wrote, and their query ids (in the same order)."""
    from recplug_flops_idf.train import TrainingExample

    with np.load(cache_root() / "train_examples.npz", allow_pickle=False) as z:
        splits = np.cumsum(z["term_lengths"])[:-1]
        terms = np.split(z["terms"], splits)
        examples = [TrainingExample(t, r, s) for t, r, s in zip(terms, z["rows"], z["teacher"], strict=True)]
        return examples, [str(q) for q in z["query_ids"]]
