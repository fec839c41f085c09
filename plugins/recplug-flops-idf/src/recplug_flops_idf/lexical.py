"""The document model's lexical channel: BM25's document-side term weight over WordPiece counts.

For a term ``t`` that occurs ``tf`` times in a document of ``|d|`` scored positions::

    w_lex(t, d) = tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))

(Lucene's BM25 with its defaults ``k1 = 1.2``, ``b = 0.75``). The query side stays inference-free: the index
multiplies each posting by the query term's IDF, so ``Σ_t idf(t) w_lex(t, d)`` alone is BM25 over WordPiece
terms. The head adds ``weight * w_lex`` to its learned weights, which the max pool cannot give: it keeps
each term's strongest position only and so loses term frequency and document length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from recplug.errors import ConfigError, InvalidInputError


@dataclass(frozen=True)
class LexicalChannel:
    """Parameters of the lexical channel (``weight = 0`` turns it off).

    Attributes:
        weight: multiplier of ``w_lex`` in the document weights.
        k1, b: BM25's term-frequency saturation and length normalisation.
        average_length: ``avgdl``, mean scored positions per document of the corpus (0: not fitted yet).
    """

    weight: float = 0.0
    k1: float = 1.2
    b: float = 0.75
    average_length: float = 0.0

    def __post_init__(self) -> None:
        values = (self.weight, self.k1, self.b, self.average_length)
        if not all(isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"lexical channel parameters must be numbers; got {self}")
        if not np.isfinite([self.weight, self.k1, self.b, self.average_length]).all():
            raise ConfigError("lexical channel parameters must be finite")
        if self.weight < 0 or self.k1 <= 0 or not 0 <= self.b <= 1 or self.average_length < 0:
            raise ConfigError(f"lexical channel needs weight >= 0, k1 > 0, 0 <= b <= 1, avgdl >= 0; got {self}")

    @property
    def active(self) -> bool:
        return self.weight > 0

    def as_tensor(self) -> Any:
        """The four parameters as a float32 torch tensor (a buffer of the head)."""
        import torch

        return torch.tensor([self.weight, self.k1, self.b, self.average_length], dtype=torch.float32)

    @classmethod
    def from_tensor(cls, values: Any) -> LexicalChannel:
        weight, k1, b, average_length = (float(v) for v in values.tolist())
        return cls(weight, k1, b, average_length)


def average_length(columns: np.ndarray, n_texts: int) -> float:
    """``avgdl``: scored positions (``columns >= 0``, ``T`` over all texts) per text."""
    if n_texts <= 0:
        raise InvalidInputError("cannot fit the average document length on no documents")
    return float((np.asarray(columns) >= 0).sum()) / n_texts


def tf_saturation(columns: Any, offsets: np.ndarray, n_columns: int, channel: LexicalChannel) -> Any:
    """``B x n_columns`` float32 torch tensor: ``w_lex`` of ``B`` texts.

    Args:
        columns: ``T`` int64 output column of each position (``-1``: not a scored term, e.g. [CLS]).
        offsets: ``B + 1`` int64; text ``i`` owns positions ``offsets[i]:offsets[i + 1]``.
    """
    import torch

    if channel.average_length <= 0:
        raise ConfigError("the lexical channel's average document length is not fitted (fit it on the corpus)")
    offsets = np.asarray(offsets, dtype=np.int64)
    n_texts = len(offsets) - 1
    rows = torch.repeat_interleave(torch.arange(n_texts), torch.as_tensor(np.diff(offsets)))
    scored = columns >= 0
    flat = rows[scored] * n_columns + columns[scored]
    tf = torch.bincount(flat, minlength=n_texts * n_columns).reshape(n_texts, n_columns).float()
    length = torch.bincount(rows[scored], minlength=n_texts).float()
    norm = channel.k1 * (1 - channel.b + channel.b * length / channel.average_length)
    return tf * (channel.k1 + 1) / (tf + norm[:, None])
