"""Metrics via ir-measures: hand-checked values, aliases, unanswered queries, cross-check with pytrec_eval."""

from __future__ import annotations

import math

import polars as pl
import pytest
from recplug.errors import ConfigError, InvalidInputError
from recplug_eval.datasets.beir import BeirDataset
from recplug_eval.metrics import evaluate_run, measure_name


def _qrels(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String, "relevance": pl.Int64}, orient="row")


def _run(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Float64}, orient="row")


def test_hand_computed_values() -> None:
    qrels = _qrels([("q1", "a", 1), ("q1", "c", 1)])
    run = _run([("q1", "b", 3.0), ("q1", "a", 2.0), ("q1", "x", 1.5), ("q1", "c", 1.0)])
    result = evaluate_run(qrels, run, ["MRR@10", "Recall@2", "Recall@4", "MAP", "NDCG@4"])
    values = result.aggregate
    assert list(values) == ["RR@10", "R@2", "R@4", "AP", "nDCG@4"]
    assert values["RR@10"] == pytest.approx(0.5)
    assert values["R@2"] == pytest.approx(0.5) and values["R@4"] == pytest.approx(1.0)
    assert values["AP"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert values["nDCG@4"] == pytest.approx(dcg / (1 + 1 / math.log2(3)))


def test_unanswered_judged_queries_count_as_zero() -> None:
    qrels = _qrels([("q1", "a", 1), ("q2", "b", 1)])
    run = _run([("q1", "a", 1.0), ("q3", "a", 1.0)])
    result = evaluate_run(qrels, run, ["RR@10"])
    assert result.aggregate["RR@10"] == pytest.approx(0.5)
    assert (result.judged_queries, result.unanswered_queries, result.unjudged_queries) == (2, 1, 1)
    assert result.per_query.filter(pl.col("query_id") == "q2")["RR@10"].item() == 0.0


def test_measure_names() -> None:
    assert measure_name("MRR@10") == "RR@10" and measure_name("MAP") == "AP"  # ir-measures' own aliases
    assert measure_name("NDCG", 10) == "nDCG@10" and measure_name("tail/Success", 20) == "tail/Success@20"
    for old, new in (("mrr@10", "RR@10"), ("ndcg@10", "nDCG@10"), ("hit@5", "Success@5"), ("head/recall@20", "head/R@20")):
        with pytest.raises(ConfigError, match=f"^'{old}' is an old measure name; use '{new}'$"):
            measure_name(old)
    with pytest.raises(ConfigError, match="'precision@4' is an old measure name; use 'P@4'"):
        evaluate_run(_qrels([("q", "a", 1)]), _run([("q", "a", 1.0)]), ["precision@4"])
    with pytest.raises(ConfigError, match="unknown retrieval measure"):
        evaluate_run(_qrels([("q", "a", 1)]), _run([("q", "a", 1.0)]), ["nonsense@3"])


def test_missing_columns_are_errors() -> None:
    with pytest.raises(InvalidInputError, match="run: missing columns"):
        evaluate_run(_qrels([("q", "a", 1)]), pl.DataFrame({"query_id": ["q"]}), ["AP"])


def test_cross_check_against_pytrec_eval(scifact_slice, scifact: BeirDataset) -> None:
    """A BM25 run over the 200-doc slice scored by our harness and by pytrec_eval directly."""
    import pytrec_eval
    from recplug_eval.datasets.beir import document_texts
    from recplug_eval.retrievers import Bm25Retriever
    from recplug_eval.runs import run_from_search

    data = BeirDataset(scifact_slice)
    corpus, queries, qrels = data.corpus(), data.split_queries("test"), data.qrels("test")
    bm25 = Bm25Retriever()
    bm25.index_corpus(corpus["doc_id"].to_list(), document_texts(corpus))
    run = run_from_search(queries["query_id"].to_list(), bm25.retrieve(queries["text"].to_list(), 100))
    ours = evaluate_run(qrels, run, ["nDCG@10", "R@100", "AP", "RR"]).aggregate

    qrel_dict: dict[str, dict[str, int]] = {}
    for q, d, r in qrels.iter_rows():
        qrel_dict.setdefault(q, {})[d] = r
    run_dict: dict[str, dict[str, float]] = {}
    for q, d, s, _ in run.iter_rows():
        run_dict.setdefault(q, {})[d] = s
    evaluator = pytrec_eval.RelevanceEvaluator(qrel_dict, {"ndcg_cut.10", "recall.100", "map", "recip_rank"})
    per_query = evaluator.evaluate(run_dict)
    assert len(per_query) == 30  # every judged query answered, so the means agree
    reference = {
        key: sum(v[name] for v in per_query.values()) / len(per_query)
        for key, name in (("nDCG@10", "ndcg_cut_10"), ("R@100", "recall_100"), ("AP", "map"), ("RR", "recip_rank"))
    }
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key
    assert 0.5 < ours["nDCG@10"] < 1.0
