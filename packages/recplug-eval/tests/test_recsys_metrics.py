"""Recommender metrics: hand-computed values, exclusion of seen items, slices, index path."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from recplug.builtins.exact_index import ExactIndex
from recplug.errors import InvalidInputError
from recplug_eval import recsys_metrics as rm


def _frame(pairs: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame({"user_id": [u for u, _ in pairs], "item_id": [i for _, i in pairs]})


def test_hand_computed_ranking() -> None:
    ranked = np.array([[3, 1, 4, 0], [2, 0, 1, 3]])
    truth = [np.array([1, 0]), np.array([5])]
    out = rm.metrics_from_ranking(ranked, truth, ks=[2, 4])
    ideal = 1 + 1 / math.log2(3)
    assert out["R@2"] == pytest.approx((0.5 + 0.0) / 2)
    assert out["R@4"] == pytest.approx((1.0 + 0.0) / 2)
    assert out["nDCG@2"] == pytest.approx((1 / math.log2(3)) / ideal / 2)
    assert out["nDCG@4"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal / 2)
    assert out["RR@4"] == pytest.approx(0.5 / 2) and out["Success@2"] == 0.5
    assert out["P@4"] == pytest.approx((2 / 4) / 2) and out["num_users"] == 2


def test_names_and_values_are_ir_measures() -> None:
    """Every key is an ir-measures name, and ir-measures computes the same value for it (binary relevance)."""
    import ir_measures

    rng = np.random.default_rng(1)
    ranked = np.stack([rng.permutation(40)[:10] for _ in range(25)])
    truth = [rng.choice(40, size=int(rng.integers(1, 6)), replace=False) for _ in range(25)]
    out = rm.metrics_from_ranking(ranked, truth, ks=[3, 10])
    qrels = [ir_measures.Qrel(str(u), str(i), 1) for u, t in enumerate(truth) for i in t]
    run = [ir_measures.ScoredDoc(str(u), str(i), float(-r)) for u, row in enumerate(ranked) for r, i in enumerate(row)]
    names = [k for k in out if k != "num_users"]
    assert len(names) == 10 and {str(ir_measures.parse_measure(k)) for k in names} == set(names)
    expected = ir_measures.calc_aggregate([ir_measures.parse_measure(k) for k in names], qrels, run)
    assert {str(m): v for m, v in expected.items()} == pytest.approx({k: out[k] for k in names})


def test_seen_items_are_excluded_and_slices() -> None:
    # 3 items on a line; user 0 likes item 0 most, but item 0 is a training item
    items = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], np.float32)
    users = np.array([[1.0, 0.1], [0.0, 1.0]], np.float32)
    train = _frame([(0, 0), (1, 0), (1, 0), (0, 1)])
    test = _frame([(0, 2), (1, 1)])
    head = rm.popularity_head_mask(train, 3, head_fraction=0.34)
    assert head.tolist() == [True, False, False]
    out = rm.full_ranking_metrics(users, items, test, exclude=train.filter(pl.col("user_id") == 0),
                                  ks=[1, 2], head_mask=head)
    # user 0 ranks [2] (0, 1 excluded) -> hit at 1; user 1 ranks [2, 1, 0] -> item 1 at rank 2
    assert out["R@1"] == pytest.approx(0.5)
    assert out["RR@2"] == pytest.approx((1 + 0.5) / 2)
    assert out["tail/num_users"] == 2 and out["head/num_users"] == 0
    assert out["tail/R@1"] == pytest.approx(0.5)
    assert out["head/R@1"] == 0.0


def test_torch_and_exact_index_agree() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(30, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    train = _frame([(int(u), int(i)) for u, i in rng.integers(0, [30, 50], size=(200, 2))])
    test = _frame([(int(u), int(i)) for u, i in rng.integers(0, [30, 50], size=(60, 2))])
    index = ExactIndex(8)
    index.add(items, np.arange(50))
    a = rm.full_ranking_metrics(users, items, test, train, ks=[5, 10], batch_size=7)
    b = rm.full_ranking_metrics(users, items, test, train, ks=[5, 10], index=index)
    assert a == pytest.approx(b)
    seen = {0: np.array([0, 1, 2])}
    ranked = rm.rank_items(users, items, [0], 10, seen)
    assert not np.isin(ranked, [0, 1, 2]).any()
    brute = np.argsort(-(users[0] @ items.T), kind="stable")
    assert ranked[0].tolist() == [i for i in brute if i not in (0, 1, 2)][:10]


def test_bad_input() -> None:
    items = np.eye(3, dtype=np.float32)
    with pytest.raises(InvalidInputError, match="item_id outside"):
        rm.full_ranking_metrics(items, items, _frame([(0, 3)]))
    with pytest.raises(InvalidInputError, match="no held-out"):
        rm.full_ranking_metrics(items, items, _frame([]).cast(pl.Int64))
    with pytest.raises(InvalidInputError, match="missing column"):
        rm.full_ranking_metrics(items, items, pl.DataFrame({"user": [0]}))
    with pytest.raises(InvalidInputError, match="D="):
        rm.rank_items(items, np.eye(4, dtype=np.float32), [0], 2)
