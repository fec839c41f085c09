"""Conformance kit for retrieval indexes (:class:`recplug.protocols.RetrievalIndex`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recplug.errors import CorruptFileError, IncompatibleFileError, InvalidInputError
from recplug.manifest import MANIFEST_NAME
from recplug.protocols import IndexCapabilities, SearchResult


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    """``n x d`` float32 rows of unit length (a vector's best match under ip, cosine and l2 is itself)."""
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class IndexConformance:
    """Checks add / search / save / load / errors of an index.

    Fixtures to provide:
        make_index: a zero-argument callable returning a new, empty index.

    Fixtures with defaults (override for non-dense inputs):
        index_documents: ``(documents, ids)``: default 64 unit vectors of the index's dimension, ids "d0"...
        index_queries: ``(queries, expected_top1_ids)``: default the first 5 documents and their own ids;
            ``expected_top1_ids`` may be None to skip the top-1 check (approximate indexes).
        bad_queries: a list of inputs that must raise InvalidInputError (default: wrong dimension, NaN).
    """

    @pytest.fixture
    def index_documents(self, make_index: Any) -> tuple[Any, np.ndarray]:
        dimension = make_index().dimension
        return unit_rows(64, dimension), np.array([f"d{i}" for i in range(64)])

    @pytest.fixture
    def index_queries(self, index_documents: tuple[Any, np.ndarray]) -> tuple[Any, Any]:
        docs, ids = index_documents
        return docs[:5], ids[:5]

    @pytest.fixture
    def bad_queries(self, make_index: Any) -> list[Any]:
        d = make_index().dimension
        nan = unit_rows(2, d)
        nan[1, 0] = np.nan
        return [unit_rows(2, d + 1), nan]

    @pytest.fixture
    def filled_index(self, make_index: Any, index_documents: tuple[Any, np.ndarray]) -> Any:
        index = make_index()
        docs, ids = index_documents
        index.add(docs, ids)
        return index

    # ------------------------------------------------------------------ contract
    def test_declares_protocol_attributes(self, make_index: Any) -> None:
        index = make_index()
        assert isinstance(index.name, str) and index.name
        assert isinstance(index.capabilities, IndexCapabilities)
        assert isinstance(index.dimension, int) and index.dimension > 0
        assert len(index) == 0

    def test_len_counts_added_documents(self, filled_index: Any, index_documents: tuple[Any, np.ndarray]) -> None:
        assert len(filled_index) == len(index_documents[1])

    def test_search_shapes_order_and_ids(
        self, filled_index: Any, index_queries: tuple[Any, Any], index_documents: Any
    ) -> None:
        queries, expected = index_queries
        result = filled_index.search(queries, k=10)
        assert isinstance(result, SearchResult)
        n_queries = len(expected) if expected is not None else result.ids.shape[0]
        assert result.ids.shape == result.scores.shape == (n_queries, 10)
        assert result.scores.dtype == np.float32
        assert np.all(np.diff(result.scores, axis=1) <= 1e-5), "scores must be sorted best first"
        assert set(result.ids.ravel().tolist()) <= set(index_documents[1].tolist())
        if expected is not None:
            assert result.ids[:, 0].tolist() == list(expected)

    def test_k_larger_than_corpus_pads(
        self, filled_index: Any, index_queries: tuple[Any, Any], index_documents: Any
    ) -> None:
        n = len(index_documents[1])
        result = filled_index.search(index_queries[0], k=n + 3)
        assert result.ids.shape[1] == n + 3
        assert np.all(np.isneginf(result.scores[:, n:]))

    def test_bad_k_is_an_error(self, filled_index: Any, index_queries: tuple[Any, Any]) -> None:
        for k in (0, -1):
            with pytest.raises(InvalidInputError):
                filled_index.search(index_queries[0], k=k)

    def test_bad_queries_are_errors(self, filled_index: Any, bad_queries: list[Any]) -> None:
        for bad in bad_queries:
            with pytest.raises(InvalidInputError):
                filled_index.search(bad, k=3)

    def test_duplicate_ids_are_an_error(self, make_index: Any, index_documents: tuple[Any, np.ndarray]) -> None:
        docs, ids = index_documents
        index = make_index()
        index.add(docs, ids)
        with pytest.raises(InvalidInputError):
            index.add(docs, ids)

    # ------------------------------------------------------------------ persistence
    def test_save_load_round_trip(self, filled_index: Any, index_queries: tuple[Any, Any], tmp_path: Path) -> None:
        if not filled_index.capabilities.supports_save:
            pytest.skip("index does not support saving")
        config = {"encoder": "kit", "dim": filled_index.dimension}
        filled_index.save(tmp_path / "idx", encoder_config=config)
        loaded = type(filled_index).load(tmp_path / "idx", encoder_config=config)
        before, after = filled_index.search(index_queries[0], k=5), loaded.search(index_queries[0], k=5)
        assert len(loaded) == len(filled_index)
        np.testing.assert_array_equal(before.ids, after.ids)
        np.testing.assert_allclose(before.scores, after.scores, rtol=1e-5, atol=1e-6)

    def test_load_with_other_encoder_config_is_an_error(self, filled_index: Any, tmp_path: Path) -> None:
        if not filled_index.capabilities.supports_save:
            pytest.skip("index does not support saving")
        filled_index.save(tmp_path / "idx", encoder_config={"encoder": "kit", "dim": 1})
        with pytest.raises(IncompatibleFileError):
            type(filled_index).load(tmp_path / "idx", encoder_config={"encoder": "kit", "dim": 2})

    def test_corrupted_file_is_an_error(self, filled_index: Any, tmp_path: Path) -> None:
        if not filled_index.capabilities.supports_save:
            pytest.skip("index does not support saving")
        directory = filled_index.save(tmp_path / "idx", encoder_config={"encoder": "kit"})
        data_files = sorted(
            (p for p in Path(directory).iterdir() if p.name != MANIFEST_NAME and p.is_file()),
            key=lambda p: p.stat().st_size,
        )
        assert data_files, "save() wrote no data file besides the manifest"
        victim = data_files[-1]
        raw = bytearray(victim.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        victim.write_bytes(bytes(raw[: len(raw) - 7]))
        with pytest.raises(CorruptFileError):
            type(filled_index).load(directory, encoder_config={"encoder": "kit"})
        (Path(directory) / MANIFEST_NAME).write_text("{not json")
        with pytest.raises(CorruptFileError):
            type(filled_index).load(directory, encoder_config={"encoder": "kit"})
