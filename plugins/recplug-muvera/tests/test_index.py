"""The "muvera-chamfer" index: the core's IndexConformance kit plus MUVERA-specific behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from recplug.errors import ConfigError, IncompatibleFileError, InvalidInputError
from recplug.multivector import MultiVectorBatch
from recplug.testing import IndexConformance
from recplug_eval import chamfer_scores as chamfer_to_sets
from recplug_muvera.chamfer import BFloat16Screen, CandidateScreen, Int8Screen, ball_carve, chamfer_candidates
from recplug_muvera.index import SCREENS, MuveraChamferIndex
from recplug_muvera.testing import unit_sets

D = 32
SMALL = {"num_repetitions": 8, "num_simhash_projections": 3, "projection_dimension": 8}


def documents(count: int = 64, seed: int = 0) -> MultiVectorBatch:
    return MultiVectorBatch.from_sets(unit_sets(count, D, seed=seed, low=4, high=30))


class TestConformance(IndexConformance):
    @pytest.fixture
    def make_index(self) -> Any:
        return lambda: MuveraChamferIndex(dimension=D, **SMALL)

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


class TestConformanceFdeOnly(TestConformance):
    @pytest.fixture
    def make_index(self) -> Any:
        return lambda: MuveraChamferIndex(dimension=D, candidates=0, num_repetitions=20, num_simhash_projections=3)


class TestConformanceHnswAndCarving(TestConformance):
    @pytest.fixture
    def make_index(self) -> Any:
        return lambda: MuveraChamferIndex(
            dimension=D, faiss_factory="HNSW16,Flat", ball_carving_tau=0.7, rerank_dtype="float16", **SMALL
        )


class TestConformanceBFloat16Rerank(TestConformance):
    @pytest.fixture
    def make_index(self) -> Any:
        return lambda: MuveraChamferIndex(dimension=D, faiss_factory="HNSW16,SQ8", rerank_dtype="bfloat16", **SMALL)


class TestConformanceInt8Rerank(TestConformance):
    @pytest.fixture
    def make_index(self) -> Any:
        return lambda: MuveraChamferIndex(dimension=D, faiss_factory="HNSW16,SQ8", rerank_dtype="int8", **SMALL)


def brute_force_chamfer(queries: list[np.ndarray], docs: MultiVectorBatch) -> np.ndarray:
    return np.array([[(q @ docs[j].astype(np.float32).T).max(axis=1).sum() for j in range(len(docs))] for q in queries])


def test_chamfer_kernels_match_brute_force() -> None:
    docs = documents(30, seed=3)
    queries = unit_sets(4, D, seed=4, low=3, high=12)
    expected = brute_force_chamfer(queries, docs)
    for i, q in enumerate(queries):
        np.testing.assert_allclose(chamfer_to_sets(q, docs.values, docs.offsets), expected[i], rtol=1e-5)
        picks = np.array([7, 2, 29, 2])
        for values in (docs.values, docs.values.astype(np.float32)):  # gathered float16 / per-candidate float32
            got = chamfer_candidates(q, values, docs.offsets, picks)
            assert got.dtype == np.float32 and got.shape == picks.shape
            np.testing.assert_allclose(got, expected[i, picks], rtol=1e-5)


@pytest.mark.parametrize("native", [True, False], ids=["native-gemm", "decoded-to-float32"])
@pytest.mark.parametrize("screen_class", [BFloat16Screen, Int8Screen])
def test_first_pass_screen_blocks_and_long_sets(
    monkeypatch: pytest.MonkeyPatch, screen_class: type[CandidateScreen], native: bool
) -> None:
    docs = documents(30, seed=3)
    docs = MultiVectorBatch(docs.values.astype(np.float16), docs.offsets)  # as the index stores them
    queries = unit_sets(3, D, seed=4, low=3, high=12)
    expected = brute_force_chamfer(queries, docs)
    picks = np.array([7, 2, 29, 2, 11, 0, 5])
    monkeypatch.setattr(CandidateScreen, "ROWS", 20)  # blocks of a few sets, and sets longer than a block
    screen = screen_class(docs.values, docs.offsets, native=native)
    lengths = np.diff(docs.offsets)[picks]
    assert lengths.max() > CandidateScreen.ROWS > lengths.min() * 2
    assert screen.nbytes > 0
    for i, q in enumerate(queries):
        np.testing.assert_allclose(screen.exact(q, picks), expected[i, picks], rtol=1e-5)
        approx = screen.approximate(q, picks)
        assert approx.dtype == np.float32
        np.testing.assert_allclose(approx, expected[i, picks], rtol=2e-2)
        assert not np.allclose(approx, expected[i, picks], rtol=1e-6, atol=0)  # the rounding is visible


@pytest.mark.parametrize("screen_class", [BFloat16Screen, Int8Screen])
def test_decoded_first_pass_scores_as_the_native_gemm(screen_class: type[CandidateScreen]) -> None:
    # int8: the float32 GEMM of decoded codes sums the same integers exactly (D * 127**2 < 2**24); bfloat16:
    # the same bfloat16 products, but the native GEMM rounds its output to bfloat16 (2**-8 relative)
    docs = documents(40, seed=12)
    values = docs.values.astype(np.float16)
    native, decoded = screen_class(values, docs.offsets, native=True), screen_class(values, docs.offsets, native=False)
    assert native.native and not decoded.native
    picks = np.arange(40)[::-1]
    for q in unit_sets(4, D, seed=13, low=3, high=30):
        want, got = native.approximate(q, picks), decoded.approximate(q, picks)
        if screen_class is Int8Screen:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=8e-3)


def test_first_pass_is_native_only_where_the_cpu_has_the_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each screen asks recplug_eval's CPU check for its own dtype (which flags count is tested there)."""
    from recplug_eval import native_bf16, native_int8

    assert Int8Screen.native_on_this_cpu is native_int8 and BFloat16Screen.native_on_this_cpu is native_bf16
    docs = documents(5, seed=14)
    values = docs.values.astype(np.float16)
    for int8_native, bf16_native in [
        (False, False),  # e.g. AVX2 only: int8 / bfloat16 GEMMs are slow, decode to float32
        (True, False),  # e.g. AVX512-VNNI
        (True, True),  # e.g. AMX
    ]:
        monkeypatch.setattr(Int8Screen, "native_on_this_cpu", staticmethod(lambda v=int8_native: v))
        monkeypatch.setattr(BFloat16Screen, "native_on_this_cpu", staticmethod(lambda v=bf16_native: v))
        assert Int8Screen(values, docs.offsets).native is int8_native
        assert BFloat16Screen(values, docs.offsets).native is bf16_native


def test_int8_screen_codes_are_the_rounded_scaled_vectors() -> None:
    docs = documents(10, seed=8)
    values = docs.values.astype(np.float16)
    screen = Int8Screen(values, docs.offsets)
    peak = np.abs(values.astype(np.float32)).max(axis=0)
    codes = screen._int8.numpy()
    assert np.abs(codes).max(axis=0).tolist() == [127] * D  # each coordinate's largest value maps to +-127
    np.testing.assert_allclose(codes * (peak / 127), values.astype(np.float32), atol=float(peak.max()) / 254 + 1e-6)
    query = unit_sets(1, D, seed=9, low=5, high=6)[0]
    q_codes, factor = screen.quantized_query(query)
    assert q_codes.shape == (D, 8) and not q_codes[:, 5:].any()  # padded with zero tokens
    np.testing.assert_allclose(q_codes[:, :5].T * factor, query * screen._scale, atol=factor / 2 + 1e-9)


@pytest.mark.parametrize("rerank_dtype", ["bfloat16", "int8"])
def test_screened_rerank_returns_exact_scores_of_the_float32_ranking(rerank_dtype: str) -> None:
    docs = documents(80, seed=5)
    queries = unit_sets(6, D, seed=6, low=3, high=12)
    exact = MuveraChamferIndex(dimension=D, candidates=60, **SMALL)
    exact.add(docs, np.arange(80))
    screened = exact.with_search(rerank_dtype=rerank_dtype, rescore=10)
    assert isinstance(screened._screen, SCREENS[rerank_dtype])  # made by with_search, not by the first search
    want, got = exact.search(queries, k=5), screened.search(queries, k=5)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6)
    assert screened.memory_bytes() < exact.memory_bytes()
    with pytest.raises(ConfigError, match="rescore"):
        MuveraChamferIndex(dimension=D, rerank_dtype="bfloat16", rescore=-1)
    with pytest.raises(ConfigError, match="rerank_dtype"):
        MuveraChamferIndex(dimension=D, rerank_dtype="int4")


def test_enough_candidates_make_the_rerank_exact() -> None:
    docs = documents(80, seed=5)
    queries = unit_sets(6, D, seed=6, low=3, high=12)
    index = MuveraChamferIndex(dimension=D, candidates=80, **SMALL)
    index.add(docs, np.arange(80))
    result = index.search(queries, k=10)
    expected = brute_force_chamfer(queries, docs)
    for i in range(6):
        order = np.argsort(-expected[i], kind="stable")[:10]
        np.testing.assert_array_equal(result.ids[i], order)
        np.testing.assert_allclose(result.scores[i], expected[i, order], rtol=1e-3)  # documents stored in fp16


def test_fde_only_mode_returns_fde_inner_products() -> None:
    docs = documents(40, seed=7)
    index = MuveraChamferIndex(dimension=D, candidates=0, **SMALL)
    index.add(docs, np.arange(40))
    queries = docs.select([0, 1])
    result = index.search(queries, k=5)
    fdes = index._documents(docs) @ index._queries(queries).T
    np.testing.assert_allclose(result.scores[:, 0], fdes.max(axis=0), rtol=1e-4)


def test_incremental_adds_equal_one_add() -> None:
    docs = documents(50, seed=8)
    one = MuveraChamferIndex(dimension=D, candidates=20, **SMALL)
    one.add(docs, np.arange(50))
    two = MuveraChamferIndex(dimension=D, candidates=20, **SMALL)
    two.add(docs.select(range(20)), np.arange(20))
    two.add(docs.select(range(20, 50)), np.arange(20, 50))
    queries = unit_sets(3, D, seed=9)
    np.testing.assert_array_equal(one.search(queries, 7).ids, two.search(queries, 7).ids)


def test_ball_carving_merges_close_vectors() -> None:
    x = np.array([[1, 0], [0.95, np.sqrt(1 - 0.95**2)], [0, 1]], np.float32)
    carved = ball_carve(x, tau=0.7)
    assert carved.shape == (2, 2)
    np.testing.assert_allclose(carved[0], x[0] + x[1])
    np.testing.assert_allclose(carved[1], x[2])
    assert ball_carve(x, tau=1.01).shape == (3, 2)


def test_ivf_trains_on_first_add_and_pq_option_builds() -> None:
    docs = documents(120, seed=10)
    index = MuveraChamferIndex(dimension=D, faiss_factory="IVF4,Flat", nprobe=4, candidates=30, **SMALL)
    index.add(docs, np.arange(120))
    assert index.search(docs.select([3]), k=1).ids[0, 0] == 3
    pq = MuveraChamferIndex(dimension=D, faiss_factory="PQ16x4", candidates=30, **SMALL)
    pq.add(docs, np.arange(120))
    assert pq.search(docs.select([3]), k=1).ids[0, 0] == 3


def test_load_refuses_another_fde_config(tmp_path: Path) -> None:
    index = MuveraChamferIndex(dimension=D, **SMALL)
    index.add(documents(10), np.arange(10))
    index.save(tmp_path / "i", encoder_config={"e": 1})
    loaded = MuveraChamferIndex.load(tmp_path / "i", encoder_config={"e": 1})
    assert loaded.fde_config == index.fde_config
    with pytest.raises(IncompatibleFileError):
        MuveraChamferIndex.load(tmp_path / "i", encoder_config={"e": 2})


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        MuveraChamferIndex(dimension=D, candidates=-1)
    with pytest.raises(ConfigError):
        MuveraChamferIndex(dimension=D, bogus=1)
    with pytest.raises(ConfigError):
        MuveraChamferIndex(dimension=D, faiss_factory="NoSuchIndex").add(documents(5), np.arange(5))
    with pytest.raises(InvalidInputError):
        MuveraChamferIndex(dimension=D).add(documents(5), np.arange(4))


# ---------------------------------------------------------------------------------------------------- issue 30
def test_too_few_documents_for_ivf_is_a_clean_error() -> None:
    """Finding 5: IVF256 with 30 documents passed FAISS's RuntimeError through (faiss-ivf-* said why)."""
    index = MuveraChamferIndex(dimension=D, faiss_factory="IVF256,Flat", **SMALL)
    with pytest.raises(InvalidInputError, match=r"'IVF256,Flat' must be trained on at least 256 vectors, got 30"):
        index.add(documents(30), np.arange(30))
    assert len(index) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nprobe": 4}, "nprobe applies to IVF indexes only"),
        ({"ef_search": 32}, "ef_search/ef_construction apply to HNSW indexes only"),
        ({"candidates": True}, "candidates must be an integer"),
        ({"candidates": "100"}, "candidates must be an integer"),
        ({"ball_carving_tau": float("nan")}, "ball_carving_tau must be a number"),
        ({"faiss_factory": ""}, "faiss_factory must be a non-empty string"),
        ({"candiates": 10}, "unknown option 'candiates'.*Did you mean 'candidates'"),
    ],
)
def test_search_options_are_checked_when_the_index_is_built(options: dict, message: str) -> None:
    """Finding 5: nprobe on a Flat index was a raw RuntimeError, ef_search an AttributeError."""
    with pytest.raises(ConfigError, match=message):
        MuveraChamferIndex(dimension=D, **SMALL, **options)


@pytest.mark.parametrize(
    "sets",
    [[[[0.1, 0.2], [0.3]]], ["not vectors"], [None], None, "text", [np.full((2, D), None, dtype=object)]],
    ids=["ragged", "strings", "none-set", "none", "text", "objects"],
)
def test_malformed_sets_are_invalid_input(sets: Any) -> None:
    """Finding 5: ragged nested lists, strings or None gave raw numpy errors."""
    index = MuveraChamferIndex(dimension=D, **SMALL)
    with pytest.raises(InvalidInputError):
        index.add(sets, ["a"])


def test_the_id_kind_is_fixed_by_the_first_add() -> None:
    """Finding 5: int ids added to an index of string ids came back as '1', '2'."""
    index = MuveraChamferIndex(dimension=D, **SMALL)
    index.add(documents(8), [f"d{i}" for i in range(8)])
    with pytest.raises(InvalidInputError, match="holds string ids"):
        index.add(documents(2, seed=3), [1, 2])
    assert len(index) == 8


@pytest.mark.parametrize(
    ("build", "message"),
    [
        ({"num_simhash_projections": 30}, r"8 \* 1,073,741,824 \* 8 = 68,719,476,736 dimensions \(256.0 GiB per set\)"),
        ({"num_repetitions": 10**6}, r"num_repetitions must be in \[1, 4096\]"),
        ({"num_repetitions": 4096, "num_simhash_projections": 10}, "over the limit of 16,777,216"),
    ],
    ids=["simhash-30", "repetitions-1e6", "large-fde"],
)
def test_fde_sizes_out_of_range_are_refused_up_front(build: dict, message: str) -> None:
    """Finding 4: num_simhash_projections=30 took 8 GiB, num_repetitions=10**6 did not answer in 120 s."""
    with pytest.raises(ConfigError, match=message):
        MuveraChamferIndex(dimension=D, **{**SMALL, **build})


def test_results_that_cannot_fit_are_refused_with_the_estimate() -> None:
    """Finding 4: k=10**10 was a MemoryError for 149 GiB; k=True was taken as k=1."""
    from recplug.memory import ResourceError

    index = MuveraChamferIndex(dimension=D, **SMALL)
    index.add(documents(8), np.arange(8))
    with pytest.raises(ResourceError, match=r"search results for 2 queries x k=10000000000 need about 298.0 GiB"):
        index.search(documents(2), k=10**10)
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        index.search(documents(2), k=True)
