"""The evaluation runner: dataset -> retriever (encoder -> index, or BM25) -> search -> optional rerank -> metrics.

Python API::

    from recplug_eval.runner import EvalConfig, SystemConfig, run_evaluation
    from recplug_eval.report import write_report

    report = run_evaluation(
        EvalConfig(dataset="scifact", split="test"),
        [SystemConfig.bm25(), SystemConfig(name="minilm", encoder="minilm")],
    )
    write_report(report, "out/eval")   # results.json, results.md, runs/*.trec, per_query/*.tsv, plot.png

Systems name their parts by component name; the runner builds them through the plugin manager, so any
installed plugin's encoder and index can be evaluated. An encoder without a named index gets the index
its spec pairs it with (its ``index`` field) or, for dense output, the default dense index
(see :func:`recplug_eval.retrievers.choose_index`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from recplug.errors import ConfigError, InvalidInputError
from recplug.protocols import RetrievalDataset, check_protocol

from recplug_eval.metrics import DEFAULT_MEASURES, evaluate_run, parse_measures
from recplug_eval.options import check_positive_int

#: queries a one-at-a-time latency measurement times at least, whatever ``latency_seconds`` says
MIN_LATENCY_QUERIES = 20

SystemKind = Literal["encoder", "bm25", "run"]


@dataclass(frozen=True)
class SystemConfig:
    """One retrieval system to evaluate.

    Attributes:
        name: label in reports and run files.
        kind: ``"encoder"`` (encoder component + index component), ``"bm25"`` (the bm25s baseline) or
            ``"run"`` (an existing TREC run file, ``run_file``, scored as it is: top ``k`` per query).
        encoder, encoder_config: encoder component name and its factory keywords.
        index, index_config: index component name (``None``: chosen for the encoder) and keywords;
            ``dimension`` defaults to the encoder's.
        bm25_config: :class:`recplug_eval.retrievers.Bm25Config` fields (``kind="bm25"``).
        rerank_encoder, rerank_encoder_config: optional exact second stage over the top ``rerank_depth``.
        reference: the name of another system of the same evaluation whose run this one's is compared with:
            adds ``metrics[f"R@{k} vs {reference}"]`` (:func:`recall_against`) for k = 10 and the eval's ``k``.
    """

    name: str
    kind: SystemKind = "encoder"
    encoder: str | None = None
    encoder_config: Mapping[str, Any] = field(default_factory=dict)
    index: str | None = None
    index_config: Mapping[str, Any] = field(default_factory=dict)
    bm25_config: Mapping[str, Any] = field(default_factory=dict)
    rerank_encoder: str | None = None
    rerank_encoder_config: Mapping[str, Any] = field(default_factory=dict)
    rerank_depth: int = 100
    run_file: str | None = None
    reference: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ConfigError(f"system name must be a non-empty string, got {self.name!r}")
        if self.kind not in ("encoder", "bm25", "run"):
            raise ConfigError(f"system {self.name!r}: kind must be 'encoder', 'bm25' or 'run', got {self.kind!r}")
        if self.kind == "encoder" and not self.encoder:
            raise ConfigError(f"system {self.name!r}: kind 'encoder' needs an encoder component name")
        if (self.kind == "run") != isinstance(self.run_file, str):
            raise ConfigError(f"system {self.name!r}: a run_file (a path) goes with kind 'run', and only with it")
        check_positive_int(f"system {self.name!r}: rerank_depth", self.rerank_depth)
        if self.reference is not None and (not isinstance(self.reference, str) or self.reference == self.name):
            raise ConfigError(f"system {self.name!r}: reference must name another system, got {self.reference!r}")
        for key in ("encoder_config", "index_config", "bm25_config", "rerank_encoder_config"):
            if not isinstance(getattr(self, key), Mapping):
                raise ConfigError(f"system {self.name!r}: {key} must be a table of options, got {getattr(self, key)!r}")

    @classmethod
    def bm25(cls, name: str = "bm25", reference: str | None = None, **config: Any) -> SystemConfig:
        """The bm25s baseline; ``config`` are :class:`recplug_eval.retrievers.Bm25Config` fields."""
        return cls(name=name, kind="bm25", bm25_config=config, reference=reference)

    @classmethod
    def trec_run(cls, path: str | Path, name: str | None = None) -> SystemConfig:
        """An existing TREC run file, scored as it is (named after the file by default)."""
        return cls(name=name or Path(path).stem, kind="run", run_file=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SystemConfig:
        """From a JSON/TOML table; unknown keys are a ConfigError naming them."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"system {data.get('name', '?')!r}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate on and how.

    Attributes:
        dataset, dataset_config: dataset component name and keywords (e.g. ``{"path": ...}``).
        split: the qrels split.
        k: results per query written to the run and scored.
        measures: ir-measures names (see :func:`recplug_eval.metrics.measure_name`).
        cache_dir: encodings cache (``None``: the default cache; see :mod:`recplug_eval.paths`).
        use_cache: cache document encodings on disk.
        max_queries: evaluate only the first ``max_queries`` judged queries (smoke runs).
        latency_queries: after the batch search, time this many queries searched one per call (a sample
            drawn with ``latency_seed``; all queries when there are fewer; 0: no one-at-a-time timing).
        latency_seed: seed of that sample.
        latency_seconds: stop that timing once a system has spent this many seconds on it and timed at least
            :data:`MIN_LATENCY_QUERIES` queries (``None``: time all ``latency_queries``), so a slow exact system
            costs a bounded wait; the report says how many queries were timed.
    """

    dataset: str = "scifact"
    dataset_config: Mapping[str, Any] = field(default_factory=dict)
    split: str = "test"
    k: int = 100
    measures: tuple[str, ...] = DEFAULT_MEASURES
    cache_dir: Path | None = None
    use_cache: bool = True
    max_queries: int | None = None
    latency_queries: int = 100
    latency_seed: int = 0
    latency_seconds: float | None = None

    def __post_init__(self) -> None:
        check_positive_int("eval: k", self.k)
        if isinstance(self.latency_queries, bool) or not isinstance(self.latency_queries, int) or self.latency_queries < 0:
            raise ConfigError(f"eval: latency_queries must be an integer >= 0, got {self.latency_queries!r}")
        if isinstance(self.latency_seed, bool) or not isinstance(self.latency_seed, int):
            raise ConfigError(f"eval: latency_seed must be an integer, got {self.latency_seed!r}")
        if self.latency_seconds is not None and (isinstance(self.latency_seconds, bool)
                                                 or not isinstance(self.latency_seconds, (int, float))
                                                 or not self.latency_seconds > 0):
            raise ConfigError(f"eval: latency_seconds must be a positive number of seconds (or unset), "
                              f"got {self.latency_seconds!r}")
        check_positive_int("eval: max_queries", self.max_queries, optional=True)
        if not isinstance(self.dataset_config, Mapping):
            raise ConfigError(f"eval: dataset_config must be a table of options, got {self.dataset_config!r}")
        parse_measures(self.measures)


@dataclass
class SystemResult:
    """The outcome of one system: metrics, timings (s), memory, config, and its run frame."""

    name: str
    metrics: dict[str, float]
    timings: dict[str, float]
    num_queries: int
    num_documents: int
    memory_bytes: int | None
    config: dict[str, Any]
    run: Any = None
    per_query: Any = None

    @property
    def query_latency_ms(self) -> float:
        """End-to-end milliseconds per query (query encoding + search + rerank)."""
        t = self.timings
        total = t.get("encode_queries_s", 0.0) + t.get("search_s", 0.0) + t.get("rerank_s", 0.0)
        return 1000.0 * total / max(self.num_queries, 1)

    @property
    def search_qps(self) -> float:
        """Queries per second of the index search alone."""
        return self.num_queries / max(self.timings.get("search_s", 0.0), 1e-9)

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (no run frame)."""
        return {
            "name": self.name,
            "metrics": self.metrics,
            "timings_s": self.timings,
            "query_latency_ms": self.query_latency_ms,
            "search_qps": self.search_qps,
            "memory_bytes": self.memory_bytes,
            "num_queries": self.num_queries,
            "num_documents": self.num_documents,
            "config": self.config,
        }


@dataclass
class EvalReport:
    """Everything :func:`run_evaluation` measured."""

    config: EvalConfig
    dataset: dict[str, Any]
    systems: list[SystemResult]
    environment: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        config = asdict(self.config)
        config["cache_dir"] = None if self.config.cache_dir is None else str(self.config.cache_dir)
        return {
            "config": config,
            "dataset": self.dataset,
            "environment": self.environment,
            "systems": [s.summary() for s in self.systems],
        }


def _environment() -> dict[str, Any]:
    import os
    import platform

    from recplug.manifest import library_versions

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "libraries": library_versions("recplug-eval", "bm25s", "ir-measures", "sentence-transformers", "torch", "faiss-cpu"),
    }


def _split_frames(dataset: Any, config: EvalConfig) -> tuple[Any, Any]:
    """The judged queries of the split (first ``max_queries``) and their qrels; for a dataset without judgments
    (no splits) every query (first ``max_queries``) and ``None``."""
    if not dataset.splits:
        queries = dataset.queries()
        return (queries if config.max_queries is None else queries.head(config.max_queries)), None
    qrels = dataset.qrels(config.split)
    queries = dataset.queries().filter(dataset.queries()["query_id"].is_in(qrels["query_id"].unique().implode()))
    if config.max_queries is not None:
        queries = queries.head(config.max_queries)
    return queries, qrels.filter(qrels["query_id"].is_in(queries["query_id"].implode()))


def _judgments(dataset: Any, config: EvalConfig) -> int:
    qrels = _split_frames(dataset, config)[1]
    return 0 if qrels is None else int(qrels.height)


def _score(qrels: Any, run: Any, measures: Sequence[str]) -> tuple[dict[str, float], Any]:
    """``(aggregate metrics, per-query frame)`` of ``run``; ``({}, None)`` without judgments (the reference recall
    is added later, :func:`add_reference_recall`)."""
    if qrels is None:
        return {}, None
    metrics = evaluate_run(qrels, run, measures)
    return metrics.aggregate, metrics.per_query


def build_retriever(system: SystemConfig, pm: Any, cache: Any) -> Any:
    """The retriever (and optional reranker) of ``system``: ``(retriever, reranker | None)``."""
    from recplug_eval.retrievers import Bm25Retriever, ExactRerank, build_encoder_index_retriever, cache_allowed

    if system.kind == "bm25":
        retriever: Any = Bm25Retriever(name=system.name, **dict(system.bm25_config))
    else:
        assert system.encoder is not None  # kind "encoder": SystemConfig requires the encoder name
        retriever = build_encoder_index_retriever(
            pm, system.encoder, system.encoder_config, system.index, system.index_config, cache=cache, name=system.name
        )
    reranker = None
    if system.rerank_encoder:
        rerank_cache = cache if cache_allowed(pm.get("retrieval_encoder", system.rerank_encoder)) else None
        encoder = pm.get("retrieval_encoder", system.rerank_encoder).create(**dict(system.rerank_encoder_config))
        reranker = ExactRerank(encoder, rerank_cache)
    return retriever, reranker


def evaluate_system(
    system: SystemConfig, config: EvalConfig, dataset: Any, pm: Any, cache: Any = None
) -> SystemResult:
    """Index the corpus, answer the split's queries, score the run."""
    from recplug_eval.datasets.beir import document_texts
    from recplug_eval.runs import run_from_search

    corpus = dataset.corpus()
    queries, qrels = _split_frames(dataset, config)
    if system.kind == "run":
        return score_run_file(system, config, qrels, queries, corpus.height)
    doc_ids, texts = corpus["doc_id"].to_list(), document_texts(corpus)
    query_ids, query_texts = queries["query_id"].to_list(), queries["text"].to_list()

    start = time.perf_counter()
    retriever, reranker = build_retriever(system, pm, cache)
    timings = {"build_components_s": time.perf_counter() - start}
    retriever.index_corpus(doc_ids, texts)
    depth = max(config.k, system.rerank_depth) if reranker else config.k
    result = retriever.retrieve(query_texts, depth)
    timings.update(retriever.timings)
    described = retriever.describe()
    if reranker is not None:
        reranker.prepare(doc_ids, texts)
        result = reranker.rerank(query_texts, result, config.k)
        timings.update(reranker.timings)
        described = {**described, "rerank": reranker.describe(), "rerank_depth": system.rerank_depth}
    run = run_from_search(query_ids, result)
    singles = one_query_latency(retriever, reranker, query_texts, depth, config)
    if singles:
        timings.update(singles.pop("timings"))
        described = {**described, "single_query_latency": singles}
    aggregate, per_query = _score(qrels, run, config.measures)
    return SystemResult(
        name=system.name,
        metrics=aggregate,
        timings=timings,
        num_queries=len(query_ids),
        num_documents=len(doc_ids),
        memory_bytes=retriever.memory_bytes(),
        config=described,
        run=run,
        per_query=per_query,
    )


def one_query_latency(retriever: Any, reranker: Any, texts: Sequence[str], depth: int, config: EvalConfig) -> dict[str, Any]:
    """Time ``retriever`` (and ``reranker``) answering queries one per call, as a service would: query
    encoding, search and rerank of each, after one untimed warm-up call.

    Which queries: all of ``texts`` when ``config.latency_queries`` covers them, else a sample of that many
    drawn with ``config.latency_seed``, in sample order; with ``config.latency_seconds``, timing stops once that
    much time is spent and :data:`MIN_LATENCY_QUERIES` are timed. The retriever's batch timings are kept as they were.

    Returns:
        ``{}`` when ``latency_queries`` is 0; else ``{"timings": {"single_query_p50_ms": ..,
        "single_query_p95_ms": ..}, "queries": n, "of": len(texts), "sampled": bool, "seed": seed}``.
    """
    import numpy as np

    if not config.latency_queries or not texts:
        return {}
    sampled = config.latency_queries < len(texts)
    # the sample in its random order (a timing stopped by latency_seconds keeps a random subset)
    picks = (np.random.default_rng(config.latency_seed).choice(len(texts), config.latency_queries, replace=False)
             if sampled else np.arange(len(texts)))
    kept = [dict(retriever.timings), dict(reranker.timings) if reranker is not None else {}]

    def answer(text: str) -> None:
        found = retriever.retrieve([text], depth)
        if reranker is not None:
            reranker.rerank([text], found, config.k)

    answer(texts[int(picks[0])])  # warm-up: first-call costs (kernels, caches) are not a query's
    elapsed: list[float] = []
    budget_ms = math.inf if config.latency_seconds is None else 1000.0 * config.latency_seconds
    for i in picks.tolist():
        if len(elapsed) >= MIN_LATENCY_QUERIES and sum(elapsed) >= budget_ms:
            break
        start = time.perf_counter()
        answer(texts[i])
        elapsed.append(1000.0 * (time.perf_counter() - start))
    retriever.timings = kept[0]
    if reranker is not None:
        reranker.timings = kept[1]
    p50, p95 = np.percentile(elapsed, [50, 95]).tolist()
    return {
        "timings": {"single_query_p50_ms": p50, "single_query_p95_ms": p95},
        "queries": len(elapsed),
        "of": len(texts),
        "sampled": sampled or len(elapsed) < len(texts),
        "seed": config.latency_seed,
    }


def reference_ks(config: EvalConfig) -> list[int]:
    """The cut-offs of ``R@k vs <reference>``: 10 and ``config.k`` (those up to ``config.k``)."""
    return sorted({k for k in (10, config.k) if k <= config.k})


def recall_against(run: Any, reference: Any, k: int) -> float:
    """Mean over ``reference``'s queries of ``|top k of run & top k of reference| / min(k, |top k of reference|)``
    (run frames with ``query_id``, ``doc_id``, ``rank``; a query missing from ``run`` counts 0)."""
    import polars as pl

    ours = run.filter(pl.col("rank") <= k).group_by("query_id").agg(pl.col("doc_id"))
    theirs = reference.filter(pl.col("rank") <= k).group_by("query_id").agg(pl.col("doc_id").alias("ref"))
    if theirs.height == 0:
        return 0.0
    found = dict(zip(ours["query_id"].to_list(), ours["doc_id"].to_list(), strict=True))
    shares = [len(set(found.get(q, ())) & set(ref)) / min(k, len(ref))
              for q, ref in zip(theirs["query_id"].to_list(), theirs["ref"].to_list(), strict=True)]
    return float(sum(shares) / len(shares))


def add_reference_recall(systems: Sequence[SystemConfig], results: Sequence[SystemResult], config: EvalConfig) -> None:
    """Add ``R@k vs <reference>`` (:func:`recall_against`, k in :func:`reference_ks`) to the metrics of every
    result whose system names a ``reference`` (evaluated in the same run)."""
    by_name = {r.name: r for r in results}
    for system, result in zip(systems, results, strict=True):
        if system.reference is None:
            continue
        reference = by_name[system.reference]
        for k in reference_ks(config):
            result.metrics[f"R@{k} vs {system.reference}"] = recall_against(result.run, reference.run, k)


def score_run_file(system: SystemConfig, config: EvalConfig, qrels: Any, queries: Any, documents: int) -> SystemResult:
    """Score the TREC run file of a ``kind="run"`` system: its top ``config.k`` per judged query."""
    import polars as pl

    from recplug_eval.runs import rank_run, read_trec_run

    run = read_trec_run(str(system.run_file))
    run = rank_run(run.filter(pl.col("query_id").is_in(queries["query_id"].implode())))
    run = run.filter(pl.col("rank") <= config.k)
    aggregate, per_query = _score(qrels, run, config.measures)
    return SystemResult(
        name=system.name,
        metrics=aggregate,
        timings={},
        num_queries=queries.height,
        num_documents=documents,
        memory_bytes=None,
        config={"kind": "run", "run_file": system.run_file},
        run=run,
        per_query=per_query,
    )


def run_evaluation(
    config: EvalConfig, systems: Sequence[SystemConfig], pm: Any = None, progress: bool = True
) -> EvalReport:
    """Evaluate every system on ``config.dataset`` / ``config.split``; see the module docstring."""
    from recplug.manager import load_plugin_manager

    from recplug_eval.embedding_cache import EmbeddingCache
    from recplug_eval.progress import progress as progress_bar

    if not systems:
        raise ConfigError("no systems to evaluate")
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise ConfigError(f"system names must be unique, got {names}")
    for system in systems:
        if system.reference is not None and system.reference not in names:
            raise ConfigError(f"system {system.name!r}: reference {system.reference!r} is not a system of this run; "
                              f"systems: {', '.join(names)}")
    pm = pm or load_plugin_manager()
    spec = pm.get("dataset", config.dataset)
    if spec.kind != "retrieval":
        raise ConfigError(f"dataset {config.dataset!r} is an {spec.kind} dataset; evaluation needs a retrieval dataset "
                          "(corpus / queries / qrels)")
    dataset = spec.create(**dict(config.dataset_config))  # options may be named "name"
    check_protocol(dataset, RetrievalDataset, f"dataset {config.dataset!r}", InvalidInputError)
    if not dataset.splits and not any(s.reference for s in systems):
        raise ConfigError(f"dataset {config.dataset!r} has no qrels (no judgments): name a reference system to compare "
                          "the others with (--reference SYSTEM, e.g. exact search; its run stands in for judgments)")
    if dataset.splits and config.split not in dataset.splits:
        raise ConfigError(f"dataset {config.dataset!r} has no split {config.split!r}; splits: {dataset.splits}")
    cache = EmbeddingCache(None if config.cache_dir is None else Path(config.cache_dir) / "encodings") if config.use_cache else None
    results = []
    for system in progress_bar(systems, desc="systems", unit="system", disable=not progress or len(systems) < 2):
        results.append(evaluate_system(system, config, dataset, pm, cache))
    add_reference_recall(systems, results, config)
    info = {
        "name": dataset.name,
        "path": "" if dataset.path is None else str(dataset.path),
        "split": config.split if dataset.splits else None,  # None: no judgments, reference recall only
        "documents": dataset.corpus().height,
        "judged_queries": results[0].num_queries,
        "judgments": _judgments(dataset, config),
        "load_notes": dict(dataset.load_notes),
    }
    return EvalReport(config=config, dataset=info, systems=results, environment=_environment())
