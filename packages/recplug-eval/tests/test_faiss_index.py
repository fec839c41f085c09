"""FAISS-specific behaviour: recall against exact search, shards, id mapping, removal, training, config."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from recplug.builtins.exact_index import ExactIndex
from recplug.errors import ConfigError, InvalidInputError
from recplug.manager import load_plugin_manager
from recplug.protocols import RetrievalIndex
from recplug_eval.indexes.ann_quality import gaussian_mixture, neighbour_recall
from recplug_eval.indexes.faiss_backend import faiss_threads
from recplug_eval.indexes.faiss_config import FaissIndexConfig, auto_nlist
from recplug_eval.indexes.faiss_index import FaissIndex, faiss_index_specs

D = 32


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    with faiss_threads(1):
        yield


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4,000 clustered documents with string ids and 100 queries from the same mixture."""
    data = gaussian_mixture(4_100, D, clusters=40, spread=0.5, seed=3)
    return data[:4_000], np.array([f"doc-{i}" for i in range(4_000)]), data[4_000:]


def exact_ids(docs: np.ndarray, ids: np.ndarray, queries: np.ndarray, metric: str, k: int = 10) -> np.ndarray:
    exact = ExactIndex(docs.shape[1], metric)
    exact.add(docs, ids)
    return exact.search(queries, k).ids


# ---------------------------------------------------------------------------------------------------- recall
@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_flat_equals_core_exact_index(clustered, metric: str) -> None:
    docs, ids, queries = clustered
    index = FaissIndex(D, "Flat", metric)
    index.add(docs, ids)
    got = index.search(queries, 10)
    exact = ExactIndex(D, metric)
    exact.add(docs, ids)
    want = exact.search(queries, 10)
    assert neighbour_recall(got.ids, want.ids) == 1.0
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-4, atol=1e-3)
    assert index.capabilities.exact


@pytest.mark.parametrize(
    ("factory", "params", "minimum"),
    [
        ("HNSW16", {"ef_search": 64}, 0.95),
        ("IVF{nlist},Flat", {"nprobe": 8}, 0.9),
        ("IVF16,PQ16x4np", {"nprobe": 8}, 0.4),
    ],
)
def test_approximate_recall_against_exact(clustered, factory: str, params: dict, minimum: float) -> None:
    docs, ids, queries = clustered
    index = FaissIndex(D, factory, "l2", **params)
    index.add(docs, ids)
    recall = neighbour_recall(index.search(queries, 10).ids, exact_ids(docs, ids, queries, "l2"))
    assert recall >= minimum, f"{factory}: R@10 {recall:.3f} < {minimum}"


def test_more_probes_find_more_neighbours(clustered) -> None:
    docs, ids, queries = clustered
    want = exact_ids(docs, ids, queries, "ip")
    index = FaissIndex(D, "IVF64,Flat", "ip", nprobe=1)
    index.add(docs, ids)
    low = neighbour_recall(index.search(queries, 10).ids, want)
    index.set_search_parameters(nprobe=64)
    high = neighbour_recall(index.search(queries, 10).ids, want)
    assert low < 0.9 and high == 1.0
    assert index.config.nprobe == 64


@pytest.mark.parametrize("factory", ["HNSW8", "Flat", "IVF16,Flat"])
def test_batched_add_equals_raw_faiss(clustered, monkeypatch, factory: str) -> None:
    """Large adds go to FAISS in chunks, except graph indexes (batches would build a worse graph)."""
    import faiss
    from recplug_eval.indexes import faiss_index

    docs, ids, queries = clustered
    monkeypatch.setattr(faiss_index, "ADD_CHUNK", 500)
    index = FaissIndex(D, factory, "l2", **({"nprobe": 4} if "IVF" in factory else {}))
    index.add(docs, ids)
    raw = faiss.index_factory(D, factory, faiss.METRIC_L2)
    if "IVF" in factory:
        raw.nprobe = 4
    raw.train(docs)
    raw.add(docs)
    np.testing.assert_array_equal(index.search(queries, 10).ids, ids[raw.search(queries, 10)[1]])


# ---------------------------------------------------------------------------------------------------- shards
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_shards_search_as_one_flat_index(clustered, metric: str) -> None:
    docs, ids, queries = clustered
    single, sharded = FaissIndex(D, "Flat", metric), FaissIndex(D, "Flat", metric, shards=4)
    for index in (single, sharded):
        index.add(docs[:2_500], ids[:2_500])
        index.add(docs[2_500:], ids[2_500:])  # a second add spreads over the shards too
    assert sum(int(s.ntotal) for s in sharded._shards) == 4_000
    assert min(int(s.ntotal) for s in sharded._shards) > 0
    a, b = single.search(queries, 10), sharded.search(queries, 10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-5)


def test_sharded_ivf_trains_once_and_shares_the_quantizer(clustered) -> None:
    import faiss

    docs, ids, queries = clustered
    index = FaissIndex(D, "IVF16,Flat", "l2", nprobe=16, shards=3)
    index.add(docs, ids)
    centroids = [faiss.extract_index_ivf(s).quantizer.reconstruct_n(0, 16) for s in index._shards]
    np.testing.assert_array_equal(centroids[0], centroids[2])
    assert neighbour_recall(index.search(queries, 10).ids, exact_ids(docs, ids, queries, "l2")) == 1.0


# ---------------------------------------------------------------------------------------------------- ids
def test_integer_ids_map_back_from_faiss_labels() -> None:
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((50, D)).astype(np.float32)
    ids = rng.choice(10**12, 50, replace=False) + 7  # large, unordered int64 ids
    index = FaissIndex(D, "Flat", "l2")
    index.add(docs, ids)
    result = index.search(docs[[3, 17]], 1)
    assert result.ids.dtype.kind == "i"
    assert result.ids[:, 0].tolist() == [ids[3], ids[17]]
    padded = index.search(docs[:1], 60)
    assert (padded.ids[0, 50:] == -1).all() and np.isneginf(padded.scores[0, 50:]).all()


def test_string_ids_of_growing_length_across_adds() -> None:
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((6, D)).astype(np.float32)
    index = FaissIndex(D, "Flat", "ip")
    index.add(docs[:3], ["a", "b", "c"])
    index.add(docs[3:], ["a-much-longer-id", "e", "f"])
    assert index.search(docs[3:4] * 10, 1).ids[0, 0] == "a-much-longer-id"


def test_mixing_int_and_string_ids_is_an_error() -> None:
    docs = np.eye(D, dtype=np.float32)[:4]
    index = FaissIndex(D, "Flat")
    index.add(docs[:2], [1, 2])
    with pytest.raises(InvalidInputError, match="integer"):
        index.add(docs[2:], ["x", "y"])
    with pytest.raises(InvalidInputError, match="already in the index"):
        index.add(docs[2:], [2, 3])
    assert len(index) == 2


def test_empty_index_returns_empty_slots() -> None:
    index = FaissIndex(D, "IVF{nlist},Flat")
    result = index.search(np.ones((2, D), np.float32), 3)
    assert result.ids.shape == (2, 3) and (result.ids == -1).all() and np.isneginf(result.scores).all()
    assert not index.is_trained


# ---------------------------------------------------------------------------------------------------- removal
@pytest.mark.parametrize(("factory", "shards"), [("Flat", 1), ("Flat", 3), ("IVF8,Flat", 2), ("PQ8x4np", 1)])
def test_removal_drops_ids_and_keeps_mapping(clustered, factory: str, shards: int) -> None:
    docs, ids, _ = clustered
    docs, ids = docs[:600], ids[:600]
    index = FaissIndex(D, factory, "l2", shards=shards, **({"nprobe": 8} if "IVF" in factory else {}))
    assert index.capabilities.supports_removal
    index.add(docs, ids)
    gone = ids[::3]
    assert index.remove([*list(gone), "not-there"]) == len(gone)
    assert len(index) == 600 - len(gone)
    result = index.search(docs, 5)
    assert not np.isin(result.ids, gone).any()
    kept = np.setdiff1d(np.arange(600), np.arange(0, 600, 3))
    if factory != "PQ8x4np":  # a lossy code may rank another vector first
        assert (result.ids[kept, 0] == ids[kept]).all()
    index.add(docs[:3], ["new-0", "new-1", "new-2"])  # labels are never reused after removal
    assert index.search(docs[:1], 1).ids[0, 0] == "new-0"


def test_hnsw_declares_and_refuses_removal() -> None:
    index = FaissIndex(D, "HNSW8")
    index.add(np.eye(D, dtype=np.float32), [f"e{i}" for i in range(D)])
    assert not index.capabilities.supports_removal
    with pytest.raises(ConfigError, match="cannot remove"):
        index.remove(["e1"])
    assert len(index) == D


# ---------------------------------------------------------------------------------------------------- training
def test_too_few_vectors_to_train_is_a_clear_error() -> None:
    index = FaissIndex(D, "IVF64,Flat")
    with pytest.raises(InvalidInputError, match=r"IVF64,Flat.*at least 64 vectors, got 10"):
        index.add(np.ones((10, D), np.float32), list(range(10)))
    assert len(index) == 0 and not index.is_trained
    pq = FaissIndex(D, "IVF4,PQ8x8")
    with pytest.raises(InvalidInputError, match="at least 256 vectors"):
        pq.add(np.random.default_rng(0).standard_normal((100, D)), list(range(100)))


def test_auto_nlist_and_train_size(clustered) -> None:
    docs, ids, _ = clustered
    index = FaissIndex(D, "IVF{nlist},Flat", train_size=1_000, seed=5)
    index.add(docs, ids)
    assert index.config.factory == f"IVF{auto_nlist(1_000)},Flat" == "IVF25,Flat"
    assert len(index) == 4_000
    with pytest.raises(InvalidInputError, match="already trained"):
        index.train(docs)
    assert auto_nlist(10) == 1 and auto_nlist(1_000_000) == 4_000


# ---------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factory": "IVFxx,Flat"}, "cannot build factory 'IVFxx,Flat'"),
        ({"factory": "HNSW32", "nprobe": 4}, "nprobe applies to IVF"),
        ({"factory": "Flat", "ef_search": 4}, "HNSW indexes only"),
        ({"metric": "dot"}, "unknown metric"),
        ({"shards": 0}, "shards must be"),
        ({"device": "tpu"}, "unknown device"),
        ({"train_size": -1}, "train_size"),
    ],
)
def test_bad_configuration_is_a_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FaissIndex(D, **kwargs)


def test_device_gpu_without_gpu_is_an_error_else_used() -> None:
    import faiss

    if faiss.get_num_gpus() == 0:
        with pytest.raises(ConfigError, match="no GPU"):
            FaissIndex(D, "Flat", device="gpu")
    else:
        assert FaissIndex(D, "Flat", device="gpu").on_gpu
    assert not FaissIndex(D, "Flat", device="cpu").on_gpu


def test_ivf_pq_component_checks_dimension() -> None:
    with pytest.raises(ConfigError, match="not divisible by m=7"):
        load_plugin_manager().create("retrieval_index", "faiss-ivf-pq", dimension=D, m=7)


def test_registered_components_resolve_through_the_entry_point() -> None:
    manager = load_plugin_manager()
    names = {spec.name for spec in faiss_index_specs()}
    assert names == {"faiss", "faiss-flat", "faiss-hnsw", "faiss-ivf-flat", "faiss-ivf-pq"}
    for name in names:
        assert manager.get("retrieval_index", name).factory.__module__ == "recplug_eval.indexes.faiss_index"
    hnsw = manager.create("retrieval_index", "faiss-hnsw", dimension=8, m=8, ef_search=20)
    assert (hnsw.name, hnsw.config.factory, hnsw.config.ef_search) == ("faiss-hnsw", "HNSW8", 20)
    assert isinstance(hnsw, RetrievalIndex)
    assert manager.create("retrieval_index", "faiss-ivf-flat", dimension=8).config.factory == "IVF{nlist},Flat"
    with pytest.raises(ConfigError, match="unknown option 'factory' for retrieval index 'faiss-hnsw'"):
        manager.create("retrieval_index", "faiss-hnsw", dimension=8, factory="Flat")


def test_importing_the_module_does_not_import_faiss() -> None:
    code = "import sys, recplug_eval.indexes.faiss_index; assert 'faiss' not in sys.modules, 'faiss imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_round_trips_through_dict() -> None:
    config = FaissIndexConfig(factory="IVF8,PQ4x8", metric="l2", nprobe=3, shards=2)
    assert FaissIndexConfig(**config.to_dict()) == config
    assert config.resolved(10_000) is config


# ---------------------------------------------------------------------------------------------------- ann_quality
def test_gaussian_mixture_is_seeded_and_low_rank_when_asked() -> None:
    a = gaussian_mixture(500, 24, clusters=1, spread=1.0, rank=3, seed=4)
    np.testing.assert_array_equal(a, gaussian_mixture(500, 24, clusters=1, spread=1.0, rank=3, seed=4))
    singular = np.linalg.svd(a - a.mean(0), compute_uv=False)
    assert singular[2] > 10 * singular[3]  # one cluster spans a 3-d subspace
    iso = gaussian_mixture(500, 24, clusters=1, spread=1.0, seed=4)
    assert 0.8 < iso.std(0).mean() < 1.2 and not np.array_equal(iso, a)
    with pytest.raises(InvalidInputError):
        gaussian_mixture(10, 4, rank=0)


def test_neighbour_recall_counts_overlap_and_ignores_empty_slots() -> None:
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    assert neighbour_recall(np.array([[3, 2, 1], [4, 9, -1]]), exact) == pytest.approx((3 + 1) / 6)
    assert neighbour_recall(np.array([["a", ""]]), np.array([["a", ""]])) == 0.5
    with pytest.raises(InvalidInputError):
        neighbour_recall(exact[:1], exact)
