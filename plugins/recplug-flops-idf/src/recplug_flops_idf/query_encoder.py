"""The inference-free query side: tokenize, keep each term once, weight it by its corpus IDF."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from recplug import validation
from recplug.errors import InvalidInputError

from recplug_flops_idf.vocab import Vocabulary


def check_texts(texts: Sequence[str], what: str) -> list[str]:
    """``texts`` as a list of non-blank strings; a blank one is an :class:`InvalidInputError` naming its row."""
    return validation.check_texts(texts, what, blank=False)


def check_idf(idf: Any, vocab_size: int) -> np.ndarray:
    """``idf`` as a finite float32 array of ``vocab_size`` values; anything else is an :class:`InvalidInputError`."""
    try:
        array = np.asarray(idf)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise TypeError(f"{array.dtype} values")
        with np.errstate(over="ignore"):  # beyond float32: infinity, refused below
            array = array.astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"idf must be an array of {vocab_size} numbers ({exc})") from exc
    if array.shape != (vocab_size,):
        raise InvalidInputError(f"idf has shape {array.shape}, the vocabulary has {vocab_size} terms")
    if not np.isfinite(array).all():
        raise InvalidInputError("idf contains NaN or infinity")
    return array


def term_sets(vocab: Vocabulary, texts: Sequence[str], what: str, max_length: int | None = None) -> list[np.ndarray]:
    """Sorted unique term ids of each text; a text with only special or unknown tokens is an error."""
    return unique_terms(vocab.token_ids(check_texts(texts, what), max_length=max_length), what)


def unique_terms(token_ids: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    """Sorted unique ids of each row of ``token_ids`` (from :meth:`Vocabulary.token_ids`); an empty row (a text with
    only special or unknown tokens) is an :class:`InvalidInputError` naming it."""
    out = []
    for row, ids in enumerate(token_ids):
        if ids.size == 0:
            raise InvalidInputError(f"{what}: row {row} has only special or unknown tokens (nothing to match)")
        out.append(np.unique(ids))
    return out


def term_matrix(terms: Sequence[np.ndarray], values: Sequence[np.ndarray], vocab_size: int) -> Any:
    """CSR ``R x V`` float32 from per-row term ids and values."""
    import scipy.sparse as sp

    lengths = np.fromiter((len(t) for t in terms), dtype=np.int64, count=len(terms))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate(terms) if len(terms) else np.zeros(0, np.int64)
    data = np.concatenate(values).astype(np.float32) if len(values) else np.zeros(0, np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(terms), vocab_size))


class InferenceFreeQueryEncoder:
    """Queries without a model: ``q(t) = idf(t)`` for each distinct term ``t`` of the query (or 1, binary).

    Args:
        vocab: the tokenizer.
        idf: ``V`` float32 corpus IDF (see :mod:`recplug_flops_idf.idf`).
        weighting: ``"idf"`` or ``"binary"`` (for an index with IDF folded into its postings).
    """

    def __init__(self, vocab: Vocabulary, idf: np.ndarray, weighting: str = "idf") -> None:
        idf = check_idf(idf, vocab.size)
        if not isinstance(weighting, str) or weighting not in ("idf", "binary"):
            raise InvalidInputError(f"weighting must be 'idf' or 'binary', got {weighting!r}")
        self.vocab, self.idf, self.weighting = vocab, idf, weighting

    def encode(self, texts: Sequence[str]) -> Any:
        """CSR ``Q x V`` float32 query vectors."""
        terms = term_sets(self.vocab, texts, "queries")
        if self.weighting == "binary":
            values = [np.ones(len(t), np.float32) for t in terms]
        else:
            values = [self.idf[t] for t in terms]
        return term_matrix(terms, values, self.vocab.size)
