"""Retrieval quality measures from qrels and run frames, computed with ir-measures.

Measure names are ir-measures' own (``nDCG@10``, ``R@100``, ``RR@10``, ``P@10``, ``Success@10``, ``AP``), here
and in every recplug output (``recplug eval``, ``recplug train``, the benchmarks): :func:`measure_name` gives them.
Any name ``ir_measures.parse_measure`` reads is accepted and written its canonical way (``NDCG@k``, ``Recall@k``,
``MRR@k`` -> ``RR@k``, ``MAP`` -> ``AP``); the lowercase names recplug once wrote (``recall@10``, ``ndcg@10``,
``mrr@10``, ``hit@10``, ``precision@10``) are a :class:`~recplug.errors.ConfigError` that names the new one.

Means are taken over *every judged query* of the qrels: a query the run does not answer counts as 0
(pytrec_eval alone would silently leave it out of the mean). Run queries without judgments are ignored
and counted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from recplug.errors import ConfigError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

DEFAULT_MEASURES: tuple[str, ...] = ("nDCG@10", "R@10", "R@100", "RR@10", "AP")

#: the lowercase names recplug's recommender metrics and benchmarks used before they took ir-measures' names
OLD_NAMES = {"recall": "R", "ndcg": "nDCG", "mrr": "RR", "hit": "Success", "hr": "Success", "precision": "P", "map": "AP"}
_OLD = re.compile(r"^(?P<name>[a-z]+)(?P<cutoff>@\d+)?$", re.I)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> Any:
    import ir_measures

    try:
        return ir_measures.parse_measure(text)
    except (ValueError, NameError, SyntaxError, TypeError, AttributeError) as exc:
        raise ConfigError(f"unknown retrieval measure {text!r} ({exc})") from exc


def old_measure_name(name: str) -> str | None:
    """The ir-measures name for one of the lowercase names recplug once wrote, else ``None``.

    ``old_measure_name("tail/mrr@10")`` -> ``"tail/RR@10"``; ``old_measure_name("hit@20")`` -> ``"Success@20"``;
    ``None`` for a name ir-measures reads itself (``"MRR@10"``, ``"Recall@10"``) and for unknown names.
    """
    prefix, slash, bare = name.strip().rpartition("/")
    old = _OLD.match(bare.strip())
    if old is None or old["name"].lower() not in OLD_NAMES:
        return None
    try:
        _parse(old.group(0))
    except ConfigError:
        return f"{prefix}{slash}{OLD_NAMES[old['name'].lower()]}{old['cutoff'] or ''}"
    return None


def measure_name(name: str, cutoff: int | None = None) -> str:
    """The one name recplug gives a measure: ir-measures' ``str(measure)``, after a ``head/``-style prefix if any.

    ``measure_name("R", 10)`` -> ``"R@10"``; ``measure_name("MRR@10")`` -> ``"RR@10"``;
    ``measure_name("tail/nDCG@20")`` -> ``"tail/nDCG@20"``; ``measure_name("mrr@10")`` raises
    ``ConfigError: 'mrr@10' is an old measure name; use 'RR@10'``; an unknown name is a ConfigError too.
    """
    text = name.strip() if cutoff is None else f"{name.strip()}@{cutoff}"
    new = old_measure_name(text)
    if new is not None:
        raise ConfigError(f"{text!r} is an old measure name; use {new!r}")
    prefix, slash, bare = text.rpartition("/")
    return f"{prefix}{slash}{_parse(bare.strip())}"


def parse_measures(names: Sequence[str]) -> list[Any]:
    """ir-measures measure objects for ``names`` (see :func:`measure_name`); an unknown name is a ConfigError."""
    return [_parse(measure_name(name)) for name in names]


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
