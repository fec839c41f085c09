"""The inverted index: conformance kit (plain and IDF-folded), exactness against scipy, pruning, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from recplug.errors import ConfigError, IncompatibleFileError, InvalidInputError
from recplug.testing import IndexConformance
from recplug_flops_idf.index import InvertedIndex

V = 300


def sparse_docs(n: int = 64, seed: int = 0) -> sp.csr_matrix:
    """Non-negative docs; doc i holds its own term i with weight 5 (so term set {i} finds doc i first)."""
    rng = np.random.default_rng(seed)
    m = sp.random(n, V, density=0.03, random_state=seed, format="lil", dtype=np.float32)
    m[:, :n] = 0
    for i in range(n):
        m[i, i] = 5.0
    return sp.csr_matrix(m) + sp.csr_matrix((rng.random(n), (np.arange(n), np.full(n, V - 1))), shape=(n, V))


def binary_queries(rows: list[int]) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), rows)), shape=(len(rows), V))


def bad_sparse_queries() -> list[object]:
    nan = binary_queries([0, 1]).astype(np.float32)
    nan.data[1] = np.nan
    return [sp.csr_matrix((2, V + 1), dtype=np.float32), nan, sp.csr_matrix((1, V), dtype=np.float32)]


class TestPlainInvertedIndex(IndexConformance):
    @pytest.fixture
    def make_index(self):
        return lambda: InvertedIndex(V)

    @pytest.fixture
    def index_documents(self):
        return sparse_docs(), np.array([f"d{i}" for i in range(64)])

    @pytest.fixture
    def index_queries(self):
        return binary_queries([0, 1, 2, 3, 4]), np.array(["d0", "d1", "d2", "d3", "d4"])

    @pytest.fixture
    def bad_queries(self):
        return bad_sparse_queries()


class TestIdfFoldedInvertedIndex(TestPlainInvertedIndex):
    @pytest.fixture
    def make_index(self):
        idf = np.linspace(0.5, 3.0, V).astype(np.float32)
        return lambda: InvertedIndex(V, idf=idf, vocab_sha256="abc")


def test_folded_idf_scores_equal_the_idf_weighted_inner_product():
    docs, rng = sparse_docs(), np.random.default_rng(3)
    idf = rng.uniform(0.1, 8.0, V).astype(np.float32)
    index = InvertedIndex(V, idf=idf)
    index.add(docs, np.arange(docs.shape[0]))
    queries = sp.random(7, V, density=0.05, random_state=4, format="csr")
    queries.data[:] = 1.0
    queries = queries[np.diff(queries.indptr) > 0]
    expected = (queries.multiply(idf[None, :]) @ docs.T).toarray()
    result = index.search(queries, k=10)
    best = -np.sort(-expected, axis=1)[:, :10]
    np.testing.assert_allclose(result.scores, best, rtol=1e-5, atol=1e-5)
    picked = np.take_along_axis(expected, result.ids.astype(np.int64), axis=1)
    np.testing.assert_allclose(picked, result.scores, rtol=1e-5, atol=1e-5)
    # the same queries carrying their IDF values are accepted and give the same answer
    weighted = index.search(queries.multiply(idf[None, :]).tocsr(), k=10)
    np.testing.assert_array_equal(weighted.ids, result.ids)


def test_search_in_small_score_blocks_equals_one_block(monkeypatch):
    import recplug_flops_idf.index as index_module

    docs = sparse_docs()
    index = InvertedIndex(V, idf=np.linspace(0.5, 3.0, V).astype(np.float32))
    index.add(docs, np.arange(docs.shape[0]))
    queries = binary_queries(list(range(11)))
    whole = index.search(queries, k=5)
    monkeypatch.setattr(index_module, "SCORE_BLOCK", 3 * docs.shape[0])  # 3 queries per block, a short last one
    blocked = index.search(queries, k=5)
    np.testing.assert_array_equal(blocked.ids, whole.ids)
    np.testing.assert_array_equal(blocked.scores, whole.scores)
    np.testing.assert_array_equal(whole.ids[:, 0], np.arange(11))  # term {i} finds doc i first


def test_non_binary_queries_are_rejected_by_a_folded_index():
    index = InvertedIndex(V, idf=np.full(V, 2.0, np.float32))
    index.add(sparse_docs(), np.arange(64))
    query = binary_queries([3]) * 0.37
    with pytest.raises(InvalidInputError, match="folded"):
        index.search(query, k=3)


def test_pruning_drops_small_weights_and_changes_nothing_else():
    docs = sparse_docs()
    full, pruned = InvertedIndex(V), InvertedIndex(V, prune_below=0.5)
    full.add(docs, np.arange(64))
    pruned.add(docs, np.arange(64))
    assert pruned.nnz == int((docs.data >= 0.5).sum()) < full.nnz
    np.testing.assert_array_equal(pruned.search(binary_queries([5]), 1).ids, [[5]])
    with pytest.raises(ConfigError):
        InvertedIndex(V, prune_below=-1.0)


def test_vocabulary_mismatch_on_load_is_named(tmp_path):
    index = InvertedIndex(V, vocab_sha256="a" * 64)
    index.add(sparse_docs(), np.arange(64))
    index.save(tmp_path / "ix", encoder_config={"encoder": "x", "vocab_sha256": "a" * 64})
    with pytest.raises(IncompatibleFileError, match="vocabulary mismatch"):
        InvertedIndex.load(tmp_path / "ix", encoder_config={"encoder": "x", "vocab_sha256": "b" * 64})
    loaded = InvertedIndex.load(tmp_path / "ix", encoder_config={"encoder": "x", "vocab_sha256": "a" * 64})
    assert loaded.vocab_sha256 == "a" * 64 and len(loaded) == 64


def test_idf_survives_save_and_load(tmp_path):
    idf = np.linspace(0.1, 5.0, V).astype(np.float32)
    index = InvertedIndex(V, idf=idf)
    index.add(sparse_docs(), np.arange(64))
    index.save(tmp_path / "ix")
    loaded = InvertedIndex.load(tmp_path / "ix")
    np.testing.assert_array_equal(loaded.idf, idf)
    q = binary_queries([1, 7, V - 1])
    np.testing.assert_allclose(loaded.search(q, 5).scores, index.search(q, 5).scores)


def test_wrong_idf_shape_is_a_config_error():
    with pytest.raises(ConfigError, match="idf"):
        InvertedIndex(V, idf=np.ones(V - 1))
