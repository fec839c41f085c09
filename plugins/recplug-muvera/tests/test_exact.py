"""The "chamfer-exact" index: the core's IndexConformance kit, its kernel against a brute-force loop, and the
equality with MUVERA asked for every candidate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from recplug.multivector import MultiVectorBatch
from recplug.testing import IndexConformance
from recplug_muvera import chamfer
from recplug_muvera.chamfer import chamfer_matrix
from recplug_muvera.exact import ChamferExactIndex
from recplug_muvera.index import MuveraChamferIndex
from recplug_muvera.testing import unit_sets

D = 32


def documents(count: int = 64, seed: int = 0) -> MultiVectorBatch:
    return MultiVectorBatch.from_sets(unit_sets(count, D, seed=seed, low=4, high=30))


class TestConformance(IndexConformance):
    @pytest.fixture
    def make_index(self) -> Any:
        return lambda: ChamferExactIndex(dimension=D)

    @pytest.fixture
    def index_documents(self) -> tuple[Any, np.ndarray]:
        return documents(), np.array([f"d{i}" for i in range(64)])

    @pytest.fixture
    def index_queries(self, index_documents: tuple[Any, np.ndarray]) -> tuple[Any, Any]:
        docs, ids = index_documents
        return docs.select(range(5)), ids[:5]

    @pytest.fixture
    def bad_queries(self) -> list[Any]:
        nan = unit_sets(2, D, seed=1)
        nan[1][0, 0] = np.nan
        return [unit_sets(2, D + 1, seed=1), nan, [np.zeros((0, D), np.float32)]]


def brute_force(queries: MultiVectorBatch, docs: MultiVectorBatch) -> np.ndarray:
    return np.array(
        [[(queries[i].astype(np.float32) @ docs[j].astype(np.float32).T).max(axis=1).sum() for j in range(len(docs))]
         for i in range(len(queries))]
    )


@pytest.mark.parametrize("threads", [1, 3])
def test_chamfer_matrix_matches_a_loop_across_blocks(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    docs = documents(40, seed=5)
    docs = MultiVectorBatch(docs.values.astype(np.float16), docs.offsets)  # as the index stores them
    queries = MultiVectorBatch.from_sets(unit_sets(7, D, seed=6, low=2, high=12))
    # tiny blocks: many document blocks, documents longer than a block, several query chunks
    monkeypatch.setattr(chamfer, "MAX_BLOCK_ROWS", 20)
    monkeypatch.setattr(chamfer, "SIMS_PER_BLOCK", 1)
    monkeypatch.setattr(chamfer, "MAX_QUERY_ROWS", 15)
    got = chamfer_matrix(queries, docs.values, docs.offsets, num_threads=threads)
    assert got.dtype == np.float32 and got.shape == (7, 40)
    np.testing.assert_allclose(got, brute_force(queries, docs), rtol=1e-5, atol=1e-5)


def test_exact_index_equals_muvera_reranking_every_document() -> None:
    docs, ids = documents(50, seed=8), np.array([f"d{i}" for i in range(50)])
    queries = MultiVectorBatch.from_sets(unit_sets(6, D, seed=9, low=3, high=10))
    exact = ChamferExactIndex(dimension=D, num_threads=2)
    muvera = MuveraChamferIndex(dimension=D, num_repetitions=2, num_simhash_projections=2, candidates=1_000_000)
    exact.add(docs, ids)
    muvera.add(docs, ids)
    a, b = exact.search(queries, 10), muvera.search(queries, 10)
    assert a.ids.tolist() == b.ids.tolist()
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


def test_memory_counts_its_own_vectors() -> None:
    docs = documents(20, seed=1)
    index = ChamferExactIndex(dimension=D)
    index.add(docs, np.arange(20))
    assert index.memory_bytes() == docs.values.shape[0] * D * 2 + 21 * 8 + 20 * 8


def test_the_plugin_registers_it() -> None:
    from recplug.manager import load_plugin_manager

    pm = load_plugin_manager()
    index = pm.create("retrieval_index", "chamfer-exact", dimension=8)
    assert isinstance(index, ChamferExactIndex) and index.capabilities.exact


@pytest.mark.parametrize("kind", ["exact", "muvera"])
def test_a_read_only_float16_store_is_read_in_place_and_a_writable_one_copied(tmp_path: Any, kind: str) -> None:
    """A memory-mapped float16 corpus (read-only) stays mapped in the index, no copy, with the same results as an
    in-memory one; an array the caller can still change is copied, so changing it later changes nothing."""
    docs, ids = documents(30, seed=11), np.arange(30)
    queries = MultiVectorBatch.from_sets(unit_sets(4, D, seed=12, low=3, high=8))
    path = tmp_path / "values.npy"
    np.save(path, docs.values.astype(np.float16))
    mapped = MultiVectorBatch(np.load(path, mmap_mode="r"), docs.offsets)
    in_memory = MultiVectorBatch(docs.values.astype(np.float16), docs.offsets)

    def make() -> Any:
        if kind == "exact":
            return ChamferExactIndex(dimension=D)
        return MuveraChamferIndex(dimension=D, num_repetitions=2, num_simhash_projections=2, candidates=10)

    a, b = make(), make()
    a.add(mapped.first(20), ids[:20])
    b.add(in_memory.first(20), ids[:20])
    assert np.shares_memory(a._values, mapped.values) and not np.shares_memory(b._values, in_memory.values)
    before = b.search(queries, 5)
    in_memory.values[:] = 0  # the caller's array changes; the index kept its own copy
    after, from_map = b.search(queries, 5), a.search(queries, 5)
    assert before.ids.tolist() == after.ids.tolist() == from_map.ids.tolist()
    np.testing.assert_allclose(from_map.scores, before.scores, rtol=1e-5)
    a.add(mapped.select(range(20, 30)), ids[20:])  # a second add appends to a copy, the map untouched
    assert len(a) == 30 and not np.shares_memory(a._values, mapped.values)
    assert np.array_equal(np.asarray(mapped.values), docs.values.astype(np.float16))


def test_first_is_a_view_and_a_non_finite_value_is_found_in_any_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from recplug import multivector
    from recplug.errors import InvalidInputError

    docs = documents(10, seed=13)
    head = docs.first(4)
    assert len(head) == 4 and np.shares_memory(head.values, docs.values)
    assert np.array_equal(head.values, docs.select(range(4)).values)
    monkeypatch.setattr(multivector, "CHECK_ROWS", 7)
    values = docs.values.copy()
    values[int(docs.offsets[6]) + 1, 3] = np.inf
    with pytest.raises(InvalidInputError, match="set 6 contains NaN"):
        MultiVectorBatch(values, docs.offsets)


def test_only_a_copy_of_the_store_is_checked_against_free_memory(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A memory-mapped float16 corpus read in place needs no memory of its own, so the exact index takes one larger
    than the memory available; a writable one, which it copies, is refused with the estimate."""
    from recplug import memory
    from recplug.memory import ResourceError

    docs = documents(30, seed=14)
    path = tmp_path / "values.npy"
    np.save(path, docs.values.astype(np.float16))
    monkeypatch.setattr(memory, "ALWAYS_FITS", 0)
    monkeypatch.setattr(memory, "available_bytes", lambda: 16)  # less than any copy
    mapped = ChamferExactIndex(dimension=D)
    mapped.add(MultiVectorBatch(np.load(path, mmap_mode="r"), docs.offsets), np.arange(30))
    assert len(mapped) == 30
    with pytest.raises(ResourceError, match="float16 vectors of 30 documents"):
        ChamferExactIndex(dimension=D).add(MultiVectorBatch(docs.values.astype(np.float16), docs.offsets), np.arange(30))
