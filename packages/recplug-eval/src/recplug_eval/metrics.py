"""Retrieval quality measures from qrels and run frames, computed with ir-measures.

Measure names follow ir-measures (``nDCG@10``, ``R@100``, ``RR@10``, ``AP``); common aliases are
accepted: ``NDCG@k``, ``Recall@k``, ``MRR@k`` (= ``RR@k``) and ``MAP`` (= ``AP``).

Means are taken over *every judged query* of the qrels: a query the run does not answer counts as 0
(pytrec_eval alone would silently leave it out of the mean). Run queries without judgments are ignored
and counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from recplug.errors import ConfigError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

DEFAULT_MEASURES: tuple[str, ...] = ("nDCG@10", "R@10", "R@100", "RR@10", "AP")

_ALIASES = [
    (re.compile(r"^ndcg(@\d+)?$", re.I), "nDCG"),
    (re.compile(r"^(recall|r)(@\d+)?$", re.I), "R"),
    (re.compile(r"^(mrr|rr)(@\d+)?$", re.I), "RR"),
    (re.compile(r"^(map|ap)(@\d+)?$", re.I), "AP"),
    (re.compile(r"^(p|precision)(@\d+)?$", re.I), "P"),
]


def canonical_measure(name: str) -> str:
    """``"MRR@10"`` -> ``"RR@10"``, ``"MAP"`` -> ``"AP"``, ``"ndcg@10"`` -> ``"nDCG@10"``; others unchanged."""
    text = name.strip()
    for pattern, canonical in _ALIASES:
        if pattern.match(text):
            cutoff = text[text.index("@") :] if "@" in text else ""
            return canonical + cutoff
    return text


def parse_measures(names: Sequence[str]) -> list[Any]:
    """ir-measures measure objects for ``names`` (aliases allowed); an unknown name is a ConfigError."""
    import ir_measures

    measures = []
    for name in names:
        try:
            measures.append(ir_measures.parse_measure(canonical_measure(name)))
        except (ValueError, NameError, SyntaxError, TypeError, AttributeError) as exc:
            raise ConfigError(f"unknown retrieval measure {name!r} ({exc})") from exc
    return measures


@dataclass(frozen=True)
class MetricsResult:
    """Aggregate and per-query values.

    Attributes:
        aggregate: measure name (canonical) -> mean over the judged queries.
        per_query: frame ``query_id`` + one Float64 column per measure (every judged query).
        judged_queries: number of queries in the qrels.
        unanswered_queries: judged queries with no result in the run (scored 0).
        unjudged_queries: run queries without judgments (ignored).
    """

    aggregate: dict[str, float]
    per_query: Any
    judged_queries: int
    unanswered_queries: int = 0
    unjudged_queries: int = 0
    notes: dict[str, Any] = field(default_factory=dict)


def _check_columns(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{what}: missing columns {missing} (has {frame.columns})")


def evaluate_run(
    qrels: pl.DataFrame, run: pl.DataFrame, measures: Sequence[str] = DEFAULT_MEASURES
) -> MetricsResult:
    """Score ``run`` (``query_id, doc_id, score``) against ``qrels`` (``query_id, doc_id, relevance``)."""
    import ir_measures
    import polars as pl

    _check_columns(qrels, ("query_id", "doc_id", "relevance"), "qrels")
    _check_columns(run, ("query_id", "doc_id", "score"), "run")
    if qrels.height == 0:
        raise InvalidInputError("qrels: no judgments")
    parsed = parse_measures(measures)
    names = [str(m) for m in parsed]
    qrel_rows = [
        ir_measures.Qrel(str(q), str(d), int(r)) for q, d, r in qrels.select("query_id", "doc_id", "relevance").iter_rows()
    ]
    judged = qrels["query_id"].cast(pl.String).unique(maintain_order=True).to_list()
    judged_set = set(judged)
    run_queries = set(run["query_id"].cast(pl.String).unique().to_list())
    run_rows = [
        ir_measures.ScoredDoc(str(q), str(d), float(s))
        for q, d, s in run.select("query_id", "doc_id", "score").iter_rows()
        if str(q) in judged_set
    ]
    values: dict[str, dict[str, float]] = {name: {} for name in names}
    if run_rows:
        for metric in ir_measures.iter_calc(parsed, qrel_rows, run_rows):
            values[str(metric.measure)][metric.query_id] = float(metric.value)
    per_query = pl.DataFrame(
        {"query_id": judged, **{name: [values[name].get(q, 0.0) for q in judged] for name in names}},
        schema={"query_id": pl.String, **{name: pl.Float64 for name in names}},
    )
    # Float64 columns over the judged queries (never empty): every mean is a float
    aggregate = {name: float(cast(float, per_query[name].mean())) for name in names}
    return MetricsResult(
        aggregate=aggregate,
        per_query=per_query,
        judged_queries=len(judged),
        unanswered_queries=len(judged_set - run_queries),
        unjudged_queries=len(run_queries - judged_set),
    )
