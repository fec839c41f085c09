"""Retrievers: what the runner evaluates. Each indexes a corpus of texts and answers text queries.

* :class:`EncoderIndexRetriever` — any encoder component + any index component (by name, through the
  plugin manager). The pair must agree: ``index.capabilities.input == encoder.output`` ("dense",
  "sparse" or "multivector"), so a plugin that brings a sparse or multi-vector encoder and a matching
  index works without runner changes. Document encodings are cached on disk; query encoding is timed
  live. Encoders that learn from the documents they encode (spec field ``fits_on_documents``, e.g.
  corpus IDF) are never served from the cache.
* :class:`Bm25Retriever` — the lexical baseline (bm25s, title + text, English stopwords, Snowball
  stemmer). Its defaults (Lucene BM25, ``k1=1.5``, ``b=0.75``) give nDCG@10 0.686 on SciFact test.
* :class:`ExactRerank` — optional second stage: re-scores the first stage's candidates exactly with
  another encoder (dot product for dense and sparse, Chamfer/MaxSim for multi-vector).

Every retriever fills ``timings`` (seconds, by stage) and answers ``describe()`` (JSON-able config)
and ``memory_bytes()`` (the size of what it keeps for search, or ``None``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from recplug.errors import ConfigError, InvalidInputError
from recplug.protocols import RetrievalEncoder, RetrievalIndex, SearchResult, check_protocol

from recplug_eval.chamfer import chamfer_scores

#: dense index preferred when none is named (first one installed wins).
DEFAULT_DENSE_INDEXES: tuple[str, ...] = ("faiss-flat", "exact")


def cache_allowed(spec: Any) -> bool:
    """Whether document encodings of the encoder of ``spec`` (a RetrievalEncoderSpec) may come from the cache:
    not when it learns from the documents it encodes (``fits_on_documents``)."""
    return not spec.fits_on_documents


@runtime_checkable
class Retriever(Protocol):
    """Indexes ``N`` documents, then answers ``Q`` queries with ``Q x k`` ids and scores."""

    name: str
    timings: dict[str, float]

    def index_corpus(self, doc_ids: Sequence[str], texts: Sequence[str]) -> None: ...

    def retrieve(self, texts: Sequence[str], k: int) -> SearchResult: ...

    def describe(self) -> dict[str, Any]: ...

    def memory_bytes(self) -> int | None: ...


def _document_encoder(encoder: Any, cache: Any) -> Any:
    """``encoder`` itself (no cache, or it caches its documents itself), or wrapped in a
    :class:`recplug_eval.embedding_cache.CachedEncoder`."""
    from recplug_eval.embedding_cache import CachedEncoder, caches_own_documents

    if cache is None or caches_own_documents(encoder):
        return encoder

    return CachedEncoder(encoder, cache)


def choose_index(pm: Any, encoder_name: str, output: str) -> str:
    """The index to pair with encoder ``encoder_name`` when the user names none.

    The encoder spec may name one (its ``index``); dense encoders otherwise get the first installed of
    :data:`DEFAULT_DENSE_INDEXES`; other outputs need an explicit index.
    """
    spec = pm.get("retrieval_encoder", encoder_name)
    if spec.index is not None:
        return str(spec.index)
    if output == "dense":
        available = pm.components_of("retrieval_index")
        for name in DEFAULT_DENSE_INDEXES:
            if name in available:
                return name
    raise ConfigError(
        f"encoder {encoder_name!r} outputs {output!r} vectors; name an index that takes them "
        f"(installed indexes: {', '.join(pm.components_of('retrieval_index'))})"
    )


class EncoderIndexRetriever:
    """Encoder component + index component.

    Args:
        encoder: a :class:`recplug.protocols.RetrievalEncoder`.
        index: a :class:`recplug.protocols.RetrievalIndex` (empty) whose ``capabilities.input`` matches
            ``encoder.output``; its ``memory_bytes()`` is the retriever's.
        cache: an :class:`recplug_eval.embedding_cache.EmbeddingCache` for document encodings, or ``None``.
        name: label in reports.
        add_batch: documents per ``index.add`` call.
    """

    def __init__(self, encoder: Any, index: Any, cache: Any = None, name: str | None = None, add_batch: int = 65536):
        check_protocol(encoder, RetrievalEncoder, "the encoder")
        check_protocol(index, RetrievalIndex, "the index")
        expected = index.capabilities.input
        if expected != encoder.output:
            raise ConfigError(
                f"index {index.name!r} takes {expected!r} input but encoder {encoder.name!r} outputs "
                f"{encoder.output!r}; pick an index whose capabilities.input is {encoder.output!r}"
            )
        if index.dimension != encoder.dimension:
            raise ConfigError(
                f"index {index.name!r} has dimension {index.dimension}, encoder {encoder.name!r} {encoder.dimension}"
            )
        self.encoder, self.index, self.cache = encoder, index, cache
        self.name = name or f"{encoder.name}+{index.name}"
        self.add_batch = add_batch
        self.timings: dict[str, float] = {}
        self.stats: dict[str, float] = {}  # what the corpus's encodings hold (sparse: terms per document)
        self.index_config: dict[str, Any] = {"dimension": index.dimension}

    def index_corpus(self, doc_ids: Sequence[str], texts: Sequence[str]) -> None:
        hits = self.cache.hits if self.cache is not None else 0
        start = time.perf_counter()
        vectors = _document_encoder(self.encoder, self.cache).encode_documents(list(texts))
        self.timings["encode_documents_s"] = time.perf_counter() - start
        if self.encoder.output == "sparse" and len(texts):  # the postings per document: a sparse index's size
            self.stats["terms_per_document"] = float(vectors.nnz) / len(texts)
        if self.cache is not None:
            self.timings["documents_from_cache"] = float(self.cache.hits > hits)
        ids = np.asarray(list(doc_ids), dtype=str)
        start = time.perf_counter()
        multivector = self.encoder.output == "multivector"  # a MultiVectorBatch: rows are selected, not sliced
        for lo in range(0, len(ids), self.add_batch):
            part = vectors[lo : lo + self.add_batch] if not multivector else vectors.select(
                np.arange(lo, min(lo + self.add_batch, len(ids)))
            )
            self.index.add(part, ids[lo : lo + self.add_batch])
        self.timings["build_index_s"] = time.perf_counter() - start

    def retrieve(self, texts: Sequence[str], k: int) -> SearchResult:
        start = time.perf_counter()
        queries = self.encoder.encode_queries(list(texts))
        self.timings["encode_queries_s"] = time.perf_counter() - start
        start = time.perf_counter()
        result = self.index.search(queries, k)
        self.timings["search_s"] = time.perf_counter() - start
        return result

    def describe(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.name,
            "encoder_config": self.encoder.config(),
            "index": self.index.name,
            "index_config": self.index_config,
            **self.stats,
        }

    def memory_bytes(self) -> int | None:
        return int(self.index.memory_bytes()) or None


@dataclass(frozen=True)
class Bm25Config:
    """bm25s settings. ``method``: lucene | robertson | atire | bm25l | bm25+; ``stopwords``: a bm25s
    language code or ``None``; ``stemmer``: a PyStemmer language or ``None``; ``n_threads``: 0 = no
    multiprocessing in retrieval."""

    method: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    delta: float = 0.5
    stopwords: str | None = "en"
    stemmer: str | None = "english"
    n_threads: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("lucene", "robertson", "atire", "bm25l", "bm25+"):
            raise ConfigError(f"bm25: unknown method {self.method!r}")
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ConfigError(f"bm25: need k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")


def _quiet_bm25s() -> None:
    """bm25s sets its logger to DEBUG at import; keep it at the root logger's level unless debugging."""
    import logging

    root = logging.getLogger().getEffectiveLevel()
    logging.getLogger("bm25s").setLevel(max(root, logging.INFO))


class Bm25Retriever:
    """BM25 with bm25s over ``title + " " + text``; see :class:`Bm25Config`."""

    def __init__(self, name: str = "bm25", **config: Any) -> None:
        try:
            self.settings = Bm25Config(**config)
        except TypeError as exc:
            raise ConfigError(f"bm25: {exc}") from exc
        self.name = name
        self.timings: dict[str, float] = {}
        self._model: Any = None
        self._ids = np.zeros(0, dtype=str)
        self._stemmer: Any = None
        if self.settings.stemmer:
            import Stemmer

            try:
                self._stemmer = Stemmer.Stemmer(self.settings.stemmer)
            except KeyError as exc:
                raise ConfigError(f"bm25: PyStemmer has no {self.settings.stemmer!r} stemmer") from exc

    def _tokenize(self, texts: Sequence[str], what: str) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(
            list(texts),
            stopwords=self.settings.stopwords or [],
            stemmer=self._stemmer,
            return_ids=False,
            show_progress=len(texts) > 10000,
        )

    def index_corpus(self, doc_ids: Sequence[str], texts: Sequence[str]) -> None:
        import bm25s

        _quiet_bm25s()
        start = time.perf_counter()
        tokens = self._tokenize(texts, "documents")
        s = self.settings
        self._model = bm25s.BM25(method=s.method, k1=s.k1, b=s.b, delta=s.delta)
        self._model.index(tokens, show_progress=len(tokens) > 10000)
        self._ids = np.asarray(list(doc_ids), dtype=str)
        self.timings["build_index_s"] = time.perf_counter() - start

    def retrieve(self, texts: Sequence[str], k: int) -> SearchResult:
        if self._model is None:
            raise InvalidInputError("bm25: index_corpus() must be called before retrieve()")
        start = time.perf_counter()
        tokens = self._tokenize(texts, "queries")
        self.timings["encode_queries_s"] = time.perf_counter() - start
        start = time.perf_counter()
        kk = min(k, len(self._ids))
        positions, scores = self._model.retrieve(
            tokens, k=kk, show_progress=False, n_threads=self.settings.n_threads, return_as="tuple"
        )
        self.timings["search_s"] = time.perf_counter() - start
        ids = self._ids[positions]
        scores = np.asarray(scores, np.float32)
        if kk < k:
            ids = np.pad(ids, ((0, 0), (0, k - kk)), constant_values="")
            scores = np.pad(scores, ((0, 0), (0, k - kk)), constant_values=-np.inf)
        return SearchResult(ids=ids, scores=scores)

    def describe(self) -> dict[str, Any]:
        from dataclasses import asdict

        config = asdict(self.settings)
        config.pop("n_threads")
        return {"retriever": "bm25", "library": "bm25s", "fields": "title + text", **config}

    def memory_bytes(self) -> int | None:
        if self._model is None:
            return None
        return int(sum(v.nbytes for v in self._model.scores.values() if isinstance(v, np.ndarray)))


class ExactRerank:
    """Re-scores candidates exactly with ``encoder`` (a second stage).

    Dense and sparse encodings are scored by inner product, multi-vector ones by Chamfer (MaxSim).
    Document encodings come from ``cache`` when given.
    """

    def __init__(self, encoder: Any, cache: Any = None) -> None:
        self.encoder, self.cache = encoder, cache
        self.name = f"rerank:{encoder.name}"
        self.timings: dict[str, float] = {}
        self._docs: Any = None
        self._position: dict[str, int] = {}

    def prepare(self, doc_ids: Sequence[str], texts: Sequence[str]) -> None:
        texts = list(texts)
        start = time.perf_counter()
        self._docs = _document_encoder(self.encoder, self.cache).encode_documents(texts)
        self._position = {d: i for i, d in enumerate(doc_ids)}
        self.timings["rerank_encode_documents_s"] = time.perf_counter() - start

    def rerank(self, texts: Sequence[str], candidates: SearchResult, k: int) -> SearchResult:
        """``Q x k0`` candidates -> ``Q x k`` re-scored results (``k <= k0`` kept)."""
        if self._docs is None:
            raise InvalidInputError("rerank: prepare() must be called before rerank()")
        start = time.perf_counter()
        queries = self.encoder.encode_queries(list(texts))
        out_ids = np.full((len(texts), k), "", dtype=object)
        out_scores = np.full((len(texts), k), -np.inf, np.float32)
        multivector = self.encoder.output == "multivector"
        for row, cand in enumerate(np.asarray(candidates.ids)):
            cand = [str(c) for c in cand if str(c) not in ("", "-1")]
            if not cand:
                continue
            positions = np.array([self._position[c] for c in cand])
            if multivector:
                selected = self._docs.select(positions)
                scores = chamfer_scores(queries[row], selected.values, selected.offsets)
            else:
                doc_rows = self._docs[positions]
                scores = np.asarray(doc_rows @ queries[row].T).ravel().astype(np.float32)
            order = np.lexsort((positions, -scores))[:k]
            out_ids[row, : len(order)] = np.asarray(cand, dtype=object)[order]
            out_scores[row, : len(order)] = scores[order]
        self.timings["rerank_s"] = time.perf_counter() - start
        return SearchResult(ids=out_ids.astype(str), scores=out_scores)

    def describe(self) -> dict[str, Any]:
        return {"encoder": self.encoder.name, "encoder_config": self.encoder.config()}


def build_encoder_index_retriever(
    pm: Any,
    encoder: str,
    encoder_config: Mapping[str, Any] | None = None,
    index: str | None = None,
    index_config: Mapping[str, Any] | None = None,
    cache: Any = None,
    name: str | None = None,
) -> EncoderIndexRetriever:
    """Build encoder ``encoder`` and index ``index`` (default: :func:`choose_index`) from their component
    names; the index factory gets ``dimension=encoder.dimension`` unless ``index_config`` sets it."""
    enc = pm.get("retrieval_encoder", encoder).create(**dict(encoder_config or {}))
    if not cache_allowed(pm.get("retrieval_encoder", encoder)):
        cache = None
    index_name = index or choose_index(pm, encoder, enc.output)
    config = {"dimension": enc.dimension, **dict(index_config or {})}
    idx = pm.get("retrieval_index", index_name).create(**config)
    retriever = EncoderIndexRetriever(enc, idx, cache=cache, name=name)
    retriever.index_config = config
    return retriever
