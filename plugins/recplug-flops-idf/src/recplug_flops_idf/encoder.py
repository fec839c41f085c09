"""The ``inference-free-sparse`` retrieval encoder: IDF-weighted term sets for queries, MiniLM + MLM head
for documents (see :mod:`recplug_flops_idf.doc_encoder`), and the matching inverted index.

Queries need no model: tokenizer + IDF lookup. The IDF is fitted on the corpus (:meth:`fit_idf`, or on
the first :meth:`encode_documents` call if none was given) and travels with the index it builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from recplug.checks import check_choice, check_int, check_optional_int
from recplug.errors import ConfigError
from recplug.fileio import sha256_file
from recplug_eval import native_bf16

from recplug_flops_idf.idf import corpus_idf
from recplug_flops_idf.index import InvertedIndex
from recplug_flops_idf.lexical import LexicalChannel, average_length
from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder, check_idf, term_sets
from recplug_flops_idf.vocab import load_vocabulary


def load_idf(path: str | PathLike) -> np.ndarray:
    """An IDF array saved with ``np.save`` (no pickles); a missing or unreadable file is a ConfigError."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"idf file {path} cannot be read as a .npy array ({exc})") from exc


class InferenceFreeSparseEncoder:
    """Inference-free learned sparse encoder (Geng et al. 2024).

    Args:
        head_path: trained head saved by :meth:`SparseHead.save` (default: the untrained tied head).
        model_dir: BERT weights and vocabulary (default: the bundled all-MiniLM-L6-v2).
        max_length: tokens per backbone window ([CLS] and [SEP] included, at most 512); longer documents are
            read window after window and max-pooled, so nothing is cut (see :mod:`recplug_flops_idf.backbone`).
        max_windows: read at most this many windows per document (``None``: whole documents).
        query_weighting: ``"idf"`` (values are the IDF) or ``"binary"`` (values are 1).
        idf: ``V`` IDF values, or a ``.npy`` path; default: fitted on the first documents encoded.
        batch_size: documents per forward pass.
        bf16: run the backbone and the head's arg-max projection in bfloat16 (the weights stay float32), as
            the benchmark's students were trained; about 2-3x faster on CPUs with AVX512-BF16 or AMX, about 6x
            slower on CPUs without them (AVX2). None (default): on where the CPU has them
            (:func:`recplug_eval.native_bf16`).
        lexical_weight: lexical channel of the untrained head (:mod:`recplug_flops_idf.lexical`); a trained
            head brings its own. Its average document length is fitted with the IDF when not yet known.
    """

    name = "inference-free-sparse"
    output = "sparse"

    def __init__(self, head_path: str | Path | None = None, model_dir: str | Path | None = None,
                 max_length: int = 512, max_windows: int | None = None, query_weighting: str = "idf", idf: Any = None,
                 batch_size: int = 16, bf16: bool | None = None, lexical_weight: float = 0.0) -> None:
        check_int(max_length, "max_length (between 3 and MiniLM's 512 positions)", low=3, high=512)
        check_optional_int(max_windows, "max_windows (None: whole documents)", low=1)
        check_choice(query_weighting, "query_weighting", ("idf", "binary"))
        check_int(batch_size, "batch_size", low=1, high=1 << 16)
        if bf16 is not None and not isinstance(bf16, bool):
            raise ConfigError(f"bf16 must be True, False or None (decide from the CPU), got {bf16!r}")
        for what, value in (("head_path", head_path), ("model_dir", model_dir)):
            if value is not None and not isinstance(value, (str, PathLike)):
                raise ConfigError(f"{what} must be a path, got {value!r}")
        if model_dir is not None and not Path(model_dir).is_dir():
            raise ConfigError(f"model_dir {model_dir} is not a folder")
        self.vocab = load_vocabulary(str(model_dir) if model_dir else None)
        self.dimension = self.vocab.size
        self.model_dir = model_dir
        self.head_path = Path(head_path) if head_path else None
        if self.head_path is not None and not self.head_path.exists():
            raise ConfigError(f"head_path {self.head_path} does not exist")
        self.max_length, self.query_weighting = int(max_length), query_weighting
        self.max_windows = None if max_windows is None else int(max_windows)
        self.batch_size, self.bf16 = int(batch_size), native_bf16() if bf16 is None else bool(bf16)
        LexicalChannel(weight=lexical_weight)  # a bad weight fails here, not at the first document
        self.lexical_weight = float(lexical_weight)
        self.idf: np.ndarray | None = None
        if idf is not None:
            self.set_idf(load_idf(idf) if isinstance(idf, (str, PathLike)) else idf)
        self._model: Any = None

    def config(self) -> dict[str, Any]:
        return {
            "encoder": self.name,
            "model": "all-MiniLM-L6-v2",
            "vocab_sha256": self.vocab.checksum,
            "head_sha256": sha256_file(self.head_path) if self.head_path else "untrained",
            "max_length": self.max_length,
            "max_windows": self.max_windows,
            "query_weighting": self.query_weighting,
            **({"lexical_weight": self.lexical_weight} if self.head_path is None and self.lexical_weight else {}),
        }

    # ------------------------------------------------------------------ IDF
    def set_idf(self, idf: Any) -> None:
        self.idf = check_idf(idf, self.vocab.size)

    def fit_idf(self, texts: Sequence[str]) -> np.ndarray:
        """Fit Lucene BM25 IDF (V,) on the ``N`` corpus texts (whole texts, not truncated)."""
        self.set_idf(corpus_idf(term_sets(self.vocab, texts, "documents"), self.vocab.size))
        assert self.idf is not None  # set just above
        return self.idf

    # ------------------------------------------------------------------ encoding
    def encode_queries(self, texts: Sequence[str]) -> Any:
        """CSR ``Q x V``: each distinct query term weighted by its IDF (or 1)."""
        if self.idf is None:
            raise ConfigError("no IDF yet: call fit_idf(corpus texts), pass idf=, or encode the documents first")
        return InferenceFreeQueryEncoder(self.vocab, self.idf, self.query_weighting).encode(texts)

    def model(self) -> Any:
        """The document model (loaded on first use)."""
        if self._model is None:
            from recplug_flops_idf.doc_encoder import SparseDocEncoder, load_head

            model = SparseDocEncoder(self.vocab.special_ids, self.model_dir, bf16=self.bf16,
                                     lexical_weight=self.lexical_weight)
            if self.head_path is not None:
                model.head = load_head(self.head_path, model.bert.embeddings.word_embeddings.weight, bf16=self.bf16)
            self._model = model.eval()
        return self._model

    def encode_documents(self, texts: Sequence[str]) -> Any:
        """CSR ``N x V`` document term weights; fits the IDF on ``texts`` if none is set."""
        from recplug_flops_idf.doc_encoder import encode_documents

        terms = term_sets(self.vocab, texts, "documents")  # empty / only special tokens -> InvalidInputError
        if self.idf is None:
            self.set_idf(corpus_idf(terms, self.vocab.size))  # fit_idf on the term sets just computed
        head = self.model().head
        if head.lexical_channel.active and head.lexical_channel.average_length == 0:
            columns = head.columns.numpy()[np.concatenate(self.vocab.token_ids(texts))]
            head.set_average_length(average_length(columns, len(texts)))
        return encode_documents(self.model(), self.vocab.tokenizer, list(texts), self.max_length, self.max_windows,
                                self.batch_size, progress=len(texts) > 256)

    def build_index(self, prune_below: float = 0.0) -> InvertedIndex:
        """An empty :class:`InvertedIndex` for this encoder: IDF folded into the postings (``"idf"``
        weighting), the vocabulary checksum recorded and the tokenizer saved with it."""
        if self.query_weighting == "idf" and self.idf is None:
            raise ConfigError("no IDF yet: call fit_idf(corpus texts) or encode the documents first")
        idf = self.idf if self.query_weighting == "idf" else None
        return InvertedIndex(self.dimension, idf=idf, prune_below=prune_below, vocab_sha256=self.vocab.checksum,
                             tokenizer_dir=self.vocab.directory)
