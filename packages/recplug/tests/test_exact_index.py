"""The built-in exact index passes the index kit for every metric and agrees with a direct computation."""

from __future__ import annotations

import numpy as np
import pytest
from recplug.builtins.exact_index import ExactIndex, top_k
from recplug.errors import ConfigError, InvalidInputError
from recplug.testing import IndexConformance


class TestExactIndexIP(IndexConformance):
    @pytest.fixture
    def make_index(self):
        return lambda: ExactIndex(dimension=12, metric="ip")


class TestExactIndexCosine(IndexConformance):
    @pytest.fixture
    def make_index(self):
        return lambda: ExactIndex(dimension=12, metric="cosine")


class TestExactIndexL2(IndexConformance):
    @pytest.fixture
    def make_index(self):
        return lambda: ExactIndex(dimension=12, metric="l2")


def test_scores_match_numpy_and_int_ids():
    rng = np.random.default_rng(3)
    docs, queries = rng.standard_normal((50, 8)).astype(np.float32), rng.standard_normal((4, 8)).astype(np.float32)
    index = ExactIndex(8)
    index.add(docs, np.arange(100, 150))
    result = index.search(queries, k=5)
    expected = np.argsort(-(queries @ docs.T), axis=1)[:, :5] + 100
    np.testing.assert_array_equal(result.ids, expected)
    assert result.ids.dtype.kind == "i"


def test_top_k_breaks_ties_by_position():
    positions, values = top_k(np.array([[1.0, 2.0, 2.0, 0.5]], np.float32), 3)
    assert positions.tolist() == [[1, 2, 0]] and values.tolist() == [[2.0, 2.0, 1.0]]


def test_remove():
    index = ExactIndex(4)
    index.add(np.eye(4, dtype=np.float32), ["a", "b", "c", "d"])
    assert index.remove(["b", "zz"]) == 1
    assert len(index) == 3 and "b" not in index.search(np.eye(4, dtype=np.float32), k=3).ids


def test_bad_configuration():
    with pytest.raises(ConfigError, match="metric"):
        ExactIndex(4, metric="hamming")
    with pytest.raises(ConfigError, match="dimension"):
        ExactIndex(0)
    with pytest.raises(InvalidInputError, match="zero vector"):
        ExactIndex(2, metric="cosine").add(np.zeros((1, 2), np.float32), ["z"])
