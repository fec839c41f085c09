"""Corpus IDF with Lucene's BM25 formula: ``idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from recplug.errors import InvalidInputError


def document_frequencies(token_ids: Sequence[np.ndarray], vocab_size: int) -> np.ndarray:
    """``df`` (V,) int64: in how many of the ``N`` documents each term id occurs."""
    if not token_ids:
        raise InvalidInputError("cannot compute IDF from an empty corpus")
    unique = [np.unique(ids) for ids in token_ids]
    flat = np.concatenate(unique) if unique else np.zeros(0, np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= vocab_size):
        raise InvalidInputError(f"term ids outside the vocabulary [0, {vocab_size})")
    return np.bincount(flat, minlength=vocab_size).astype(np.int64)


def bm25_idf(df: np.ndarray, n_documents: int) -> np.ndarray:
    """Lucene BM25 IDF (V,) float32 from document frequencies; always positive, unseen terms get the maximum."""
    if n_documents <= 0:
        raise InvalidInputError("cannot compute IDF from an empty corpus")
    df = np.asarray(df, dtype=np.float64)
    if (df < 0).any() or (df > n_documents).any():
        raise InvalidInputError(f"document frequencies must lie in [0, {n_documents}]")
    return np.log1p((n_documents - df + 0.5) / (df + 0.5)).astype(np.float32)


def corpus_idf(token_ids: Sequence[np.ndarray], vocab_size: int) -> np.ndarray:
    """IDF (V,) of a tokenized corpus of ``N`` documents."""
    return bm25_idf(document_frequencies(token_ids, vocab_size), len(token_ids))
