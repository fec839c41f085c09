"""The ``inference-free-sparse`` retrieval encoder: IDF-weighted term sets for queries, MiniLM + MLM head
for documents (see :mod:`recplug_flops_idf.doc_encoder`), and the matching inverted index.

Queries need no model: tokenizer + IDF lookup. The IDF is fitted on the corpus (:meth:`fit_idf`, or on
the first :meth:`encode_documents` call if none was given) and travels with the index it builds.
"""

from __future__ import annotations

import logging
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
from recplug_flops_idf.query_encoder import (
    InferenceFreeQueryEncoder,
    check_idf,
    check_texts,
    term_sets,
    unique_terms,
)
from recplug_flops_idf.vocab import load_vocabulary

log = logging.getLogger(__name__)


def warn_unscored(head: Any, token_ids: list[np.ndarray], idf: np.ndarray | None) -> float:
    """Warn (once per call, with the share) when the corpus holds terms ``head`` does not score: they can get
    no weight, so queries with them lose that IDF mass. Returns the share of the corpus's IDF-weighted term
    occurrences the head cannot score (0.0 for a head over the whole vocabulary)."""
    flat = np.concatenate(token_ids) if token_ids else np.zeros(0, np.int64)
    weights = np.ones(len(flat), np.float32) if idf is None else idf[flat]
    total = float(weights.sum())
    missed = float(weights[head.columns.numpy()[flat] < 0].sum()) / total if total > 0 else 0.0
    if missed > 0:
        log.warning("the sparse head scores %d of %d terms: %.1f%% of this corpus's IDF-weighted term occurrences "
                    "get no weight (load the head with term_ids= covering the vocabulary)", len(head.term_ids),
                    head.vocab_size, 100 * missed)
    return missed


#: backbone tokens per window when neither the caller nor a shipped head says: all-MiniLM-L6-v2's max sequence
#: length, so that the first window is the sentence-transformers pass the dense encoders share
DEFAULT_WINDOW = 256


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
        shipped_head: name of a head shipped with the plugin (:mod:`recplug_flops_idf.shipped`, checked against
            its SHA-256), instead of ``head_path``.
        model_dir: BERT weights and vocabulary (default: the bundled all-MiniLM-L6-v2).
        max_length: tokens per backbone window ([CLS] and [SEP] included, at most 512); longer documents are
            read window after window and max-pooled, so nothing is cut (see :mod:`recplug_flops_idf.backbone`).
            ``None`` (default): the window a shipped head was trained with (``heads.json``), else
            :data:`DEFAULT_WINDOW`. When it equals the sentence-transformers model's max sequence length (256 for
            all-MiniLM-L6-v2) and the cache is on, each document's first window comes from the forward pass that
            dense ``minilm`` and ``minilm-tokens`` share (:func:`recplug_flops_idf.backbone.first_windows_of`), so
            on one corpus the three cost one MiniLM pass plus this encoder's later windows; those are cached as
            well (:func:`recplug_flops_idf.backbone.cached_later_windows`), so another head, or a training run, on
            the same corpus runs no backbone at all.
        max_windows: read at most this many windows per document (``None``: whole documents).
        query_weighting: ``"idf"`` (values are the IDF) or ``"binary"`` (values are 1).
        idf: ``V`` IDF values, or a ``.npy`` path; default: fitted on the first documents encoded.
        batch_size: documents per forward pass.
        bf16: run the backbone and the head's arg-max projection in bfloat16 (the weights stay float32), as
            the benchmark's students were trained; about 2-3x faster on CPUs with AVX512-BF16 or AMX, about 6x
            slower on CPUs without them (AVX2). None (default): on where the CPU has them
            (:func:`recplug_eval.native_bf16`).
        lexical_weight: lexical channel of the untrained head (:mod:`recplug_flops_idf.lexical`); a trained
            head brings its own. Its average document length is fitted on the documents with the IDF.
        terms: which terms a trained head scores: ``"vocabulary"`` (default: every term; those the head was not
            trained on keep the untrained tied rows, see :meth:`model`) or ``"head"`` (only the terms the head file
            has rows for: the benchmark's students' setting, about half the head's cost, and right on the corpus the
            head was trained on, where no other term occurs in a document).
        mean_terms: prune the corpus's document vectors to about this many terms per document on average (one
            weight threshold for the whole corpus, :func:`recplug_flops_idf.pruning.prune_to_mean_terms`): matched
            sparsity when comparing heads. ``None`` (default): every term the head and the lexical channel give.
        cache: folder for the model pass's document encodings (``True``: ``<recplug cache>/flops_idf/documents``;
            ``None`` / ``False``: no cache). What the model computes (each document's learned term weights) is
            cached, keyed by the model's and the head file's checksums, the encoder settings and the texts
            (:func:`recplug_eval.embedding_cache.cache_key`, CSR ``.npz`` written atomically); what is fitted on
            the corpus (the IDF, the lexical channel's average length and its weights: counting, no model) is
            recomputed on every call, so the runner may treat the encoder as fitted on its documents.
    """

    name = "inference-free-sparse"
    output = "sparse"

    def __init__(self, head_path: str | Path | None = None, model_dir: str | Path | None = None,
                 max_length: int | None = None, max_windows: int | None = None, query_weighting: str = "idf", idf: Any = None,
                 batch_size: int = 16, bf16: bool | None = None, lexical_weight: float = 0.0,
                 cache: bool | str | Path | None = True, shipped_head: str | None = None,
                 terms: str = "vocabulary", mean_terms: float | None = None) -> None:
        check_choice(terms, "terms", ("vocabulary", "head"))
        if mean_terms is not None and (isinstance(mean_terms, bool) or not isinstance(mean_terms, (int, float))
                                       or not mean_terms > 0):
            raise ConfigError(f"mean_terms must be a positive number of terms per document (or None), got {mean_terms!r}")
        self.mean_terms = None if mean_terms is None else float(mean_terms)
        if max_length is not None:
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
        if shipped_head is not None:
            from recplug_flops_idf.shipped import shipped_head as shipped_path

            if head_path is not None:
                raise ConfigError("give head_path or shipped_head, not both")
            head_path = shipped_path(shipped_head)
            if max_length is None:
                from recplug_flops_idf.shipped import manifest

                max_length = int(manifest()[shipped_head].get("window", DEFAULT_WINDOW))
        self.head_path = Path(head_path) if head_path else None
        if self.head_path is not None and not self.head_path.exists():
            raise ConfigError(f"head_path {self.head_path} does not exist")
        if terms == "head" and self.head_path is None:
            raise ConfigError("terms='head' needs a trained head (head_path or shipped_head); the untrained head "
                              "scores the whole vocabulary")
        self.terms = terms
        self.max_length = DEFAULT_WINDOW if max_length is None else int(max_length)
        self.query_weighting = query_weighting
        self.max_windows = None if max_windows is None else int(max_windows)
        self.batch_size, self.bf16 = int(batch_size), native_bf16() if bf16 is None else bool(bf16)
        LexicalChannel(weight=lexical_weight)  # a bad weight fails here, not at the first document
        self.lexical_weight = float(lexical_weight)
        self.idf: np.ndarray | None = None
        if idf is not None:
            self.set_idf(load_idf(idf) if isinstance(idf, (str, PathLike)) else idf)
        if cache is not None and not isinstance(cache, (bool, str, PathLike)):
            raise ConfigError(f"cache must be a folder, True (the default folder) or False, got {cache!r}")
        self.cache_dir: Path | None = None
        if cache is True:
            from recplug_eval import cache_dir

            self.cache_dir = cache_dir() / "flops_idf" / "documents"
        elif cache:
            self.cache_dir = Path(cache)
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
            **({"terms": self.terms} if self.terms != "vocabulary" else {}),
            **({"mean_terms": self.mean_terms} if self.mean_terms is not None else {}),
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
        """The document model (loaded on first use). A trained head scores the whole vocabulary (``terms=
        "vocabulary"``): the terms it was not trained on keep the untrained tied rows (see
        :func:`recplug_flops_idf.doc_encoder.load_head`); with ``terms="head"`` only its own terms."""
        if self._model is None:
            from recplug_flops_idf.doc_encoder import SparseDocEncoder, load_head

            model = SparseDocEncoder(self.vocab.special_ids, self.model_dir, bf16=self.bf16,
                                     lexical_weight=self.lexical_weight)
            if self.head_path is not None:
                model.head = load_head(self.head_path, model.bert.embeddings.word_embeddings.weight, bf16=self.bf16,
                                       term_ids=model.head.term_ids.numpy() if self.terms == "vocabulary" else None)
            self._model = model.eval()
        return self._model

    def model_pass_key(self) -> dict[str, Any]:
        """What the model pass (the learned document weights) depends on: the cache key of :meth:`encode_documents`."""
        from recplug_flops_idf.backbone import model_checksum

        head = self.model().head
        return {
            "model_sha256": model_checksum(str(self.model_dir) if self.model_dir else None),
            "vocab_sha256": self.vocab.checksum,
            "head_sha256": sha256_file(self.head_path) if self.head_path else "untrained",
            "head_start": {"init_bias": float(head.init_bias), "skip_scale": float(head.skip_scale),
                           "terms": len(head.term_ids)},  # the untrained head's settings (and a trained head's rows)
            "max_length": self.max_length,
            "max_windows": self.max_windows,
            "bf16": self.bf16,
            "first_window": "shared" if self.shares_first_window() else "own",  # float16 states vs its own pass
        }

    def shares_first_window(self) -> bool:
        """Whether the model pass reads each document's first window from the shared sentence-transformers pass
        (the cache is on and the window is that model's max sequence length; see ``max_length``)."""
        from recplug_flops_idf.backbone import shared_pass_length

        model_dir = None if self.model_dir is None else str(self.model_dir)
        return self.cache_dir is not None and shared_pass_length(model_dir) == self.max_length

    def encode_documents(self, texts: Sequence[str]) -> Any:
        """CSR ``N x V`` document term weights; fits the IDF (and the lexical channel's average length) on
        ``texts`` if no IDF is set.

        The learned part (the model pass) comes from the cache when the same model, head, settings and texts were
        encoded before; the lexical channel's part is counted from the tokens each time (see the class).
        """
        import scipy.sparse as sp

        from recplug_flops_idf.doc_encoder import encode_documents, lexical_documents

        texts = check_texts(texts, "documents")
        token_ids = self.vocab.token_ids(texts)
        terms = unique_terms(token_ids, "documents")  # only special tokens -> InvalidInputError
        fitted_now = self.idf is None
        if fitted_now:
            self.set_idf(corpus_idf(terms, self.vocab.size))
        model = self.model()
        head = model.head
        if self.max_windows is not None:  # the positions the backbone reads
            token_ids = [ids[: self.max_windows * (self.max_length - 2)] for ids in token_ids]

        def model_pass() -> Any:
            first = later = None
            progress = len(texts) > 256
            if self.shares_first_window():  # every backbone state from the caches: the heads differ, not the states
                from recplug_flops_idf.backbone import cached_later_windows, first_windows_of
                from recplug_flops_idf.student import states_cache_dir

                model_dir = None if self.model_dir is None else str(self.model_dir)
                first = first_windows_of(list(texts), self.max_length, self.model_dir, bf16=self.bf16)
                later = cached_later_windows(list(texts), self.vocab.tokenizer, model.bert, self.max_length,
                                             states_cache_dir(), self.max_windows, self.bf16, model_dir, progress)
            return encode_documents(model, self.vocab.tokenizer, texts, self.max_length, self.max_windows,
                                    self.batch_size, progress=progress, lexical=False, first_windows=first, later=later)

        if self.cache_dir is None:
            learned = model_pass()
        else:
            from recplug_eval import EmbeddingCache

            learned = EmbeddingCache(self.cache_dir).get_or_compute(self.model_pass_key(), "documents-model-pass",
                                                                    texts, model_pass)
        warn_unscored(head, token_ids, self.idf)
        docs = learned
        if head.lexical_channel.active:
            if fitted_now or head.lexical_channel.average_length == 0:
                head.set_average_length(average_length(head.columns.numpy()[np.concatenate(token_ids)], len(texts)))
            docs = sp.csr_matrix(learned + lexical_documents(head, token_ids), dtype=np.float32)
        if self.mean_terms is None:
            return docs
        from recplug_flops_idf.pruning import prune_to_mean_terms

        return prune_to_mean_terms(docs, self.mean_terms)

    def build_index(self, prune_below: float = 0.0) -> InvertedIndex:
        """An empty :class:`InvertedIndex` for this encoder: IDF folded into the postings (``"idf"``
        weighting), the vocabulary checksum recorded and the tokenizer saved with it."""
        if self.query_weighting == "idf" and self.idf is None:
            raise ConfigError("no IDF yet: call fit_idf(corpus texts) or encode the documents first")
        idf = self.idf if self.query_weighting == "idf" else None
        return InvertedIndex(self.dimension, idf=idf, prune_below=prune_below, vocab_sha256=self.vocab.checksum,
                             tokenizer_dir=self.vocab.directory)
