"""Conformance kit for retrieval indexes (:class:`recplug.protocols.RetrievalIndex`)."""

from __future__ import annotations

import json
import os
import random
import stat
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError, InvalidInputError, RecplugError
from recplug.manifest import MANIFEST_NAME, manifest_digest
from recplug.protocols import IndexCapabilities, SearchResult
from recplug.testing.kill_kit import count_steps, killed_after, killed_at_step
from recplug.testing.kit_guard import ConformanceKit
from recplug.testing.strategies import ci_settings, outcome

#: Fast and reproducible in CI; every subclass of the kit runs the same examples on its own fixtures.
PROPERTY_SETTINGS = ci_settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.differing_executors],
)
#: Arbitrary inputs for add / search: arrays of any dtype and shape (NaN, infinity, empty included),
#: nested lists, strings, None.
ARBITRARY_INPUTS = st.one_of(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.bool_, np.uint8, np.complex64]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9),
    ),
    st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5), max_size=4),
    st.text(max_size=5),
    st.none(),
    st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers()), max_size=3),
)


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    """``n x d`` float32 rows of unit length (a vector's best match under ip, cosine and l2 is itself)."""
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class IndexConformance(ConformanceKit):
    """Checks add / search / save / load / errors of an index.

    Fixtures to provide:
        make_index: a zero-argument callable returning a new, empty index.

    Fixtures with defaults (override for non-dense inputs):
        index_documents: ``(documents, ids)``: default 64 unit vectors of the index's dimension, ids "d0"...
        index_queries: ``(queries, expected_top1_ids)``: default the first 5 documents and their own ids;
            ``expected_top1_ids`` may be None to skip the top-1 check (approximate indexes).
        bad_queries: a list of inputs that must raise InvalidInputError (default: wrong dimension, NaN).
        index_spec: the index's record, to compare capabilities with (default: the installed component of the
            index's ``name``; ``None`` skips the comparison).
    """

    @pytest.fixture
    def index_spec(self, make_index: Any) -> Any:
        from recplug.manager import load_plugin_manager

        return load_plugin_manager().components_of("retrieval_index").get(make_index().name)

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

    @pytest.fixture
    def other_index(self, make_index: Any, index_documents: tuple[Any, np.ndarray]) -> Any:
        """The same documents under reversed ids: a second index that answers differently."""
        index = make_index()
        docs, ids = index_documents
        index.add(docs, ids[::-1].copy())
        return index

    # ------------------------------------------------------------------ contract
    def test_declares_protocol_attributes(self, make_index: Any) -> None:
        index = make_index()
        assert isinstance(index.name, str) and index.name
        # troubleshooting: capabilities are typed flags (IndexCapabilities(exact=True, ...)), not a set of tags
        assert isinstance(index.capabilities, IndexCapabilities), type(index.capabilities)
        assert isinstance(index.dimension, int) and index.dimension > 0
        assert len(index) == 0
        assert index.memory_bytes() >= 0

    def test_capabilities_agree_with_the_record(self, make_index: Any, index_spec: Any) -> None:
        """What does not depend on options or device (``input``, ``supports_save``) is the same on the built
        index and on its record: hosts pick an index for an encoder by the record."""
        index = make_index()
        if index_spec is None:
            pytest.skip(f"{index.name!r} is not an installed component; override the index_spec fixture")
        own, declared = index.capabilities, index_spec.capabilities
        # troubleshooting: the record's capabilities= and the class's capabilities attribute disagree
        assert own.input == declared.input, f"instance takes {own.input!r}, record says {declared.input!r}"
        assert own.supports_save == declared.supports_save, f"instance {own}, record {declared}"

    def test_memory_bytes_grows_with_documents(self, make_index: Any, filled_index: Any) -> None:
        """``memory_bytes()`` counts what the index keeps for search: more than nothing once filled."""
        # troubleshooting: memory_bytes() should count the stored vectors/codes, not return a constant
        assert isinstance(filled_index.memory_bytes(), int)
        assert filled_index.memory_bytes() > make_index().memory_bytes()

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

    def test_removal_follows_the_capability(
        self, filled_index: Any, index_documents: tuple[Any, np.ndarray], index_queries: tuple[Any, Any]
    ) -> None:
        """``remove`` works when ``capabilities.supports_removal`` says so, and is a ConfigError otherwise.
        The default queries are the first documents, so the removed ones must stop coming back."""
        _, ids = index_documents
        gone = list(ids[:3])
        if not filled_index.capabilities.supports_removal:
            with pytest.raises(ConfigError):
                filled_index.remove(gone)
            assert len(filled_index) == len(ids)
            return
        before = len(filled_index)
        unknown = int(ids.max()) + 1 if ids.dtype.kind in "iu" else "no-such-id"
        assert filled_index.remove([*gone, unknown]) == 3
        assert len(filled_index) == before - 3
        assert filled_index.remove(gone) == 0
        found = filled_index.search(index_queries[0], k=min(10, before - 3)).ids
        assert not set(np.asarray(found).ravel().tolist()) & set(gone), "removed ids are still returned"

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

    def test_edited_manifest_is_caught(self, filled_index: Any, tmp_path: Path) -> None:
        """The manifest's checksum covers its own fields: an edited metric or count is refused, not obeyed."""
        if not filled_index.capabilities.supports_save:
            pytest.skip("index does not support saving")
        directory = Path(filled_index.save(tmp_path / "idx"))
        original = (directory / MANIFEST_NAME).read_text()
        for key, value in (("metric", "l2" if filled_index_metric(original) != "l2" else "ip"), ("count", 1)):
            raw = json.loads(original)
            raw[key] = value
            (directory / MANIFEST_NAME).write_text(json.dumps(raw))
            with pytest.raises(CorruptFileError, match="checksum"):
                type(filled_index).load(directory)

    def test_saved_files_honour_the_umask(self, filled_index: Any, tmp_path: Path) -> None:
        if not filled_index.capabilities.supports_save:
            pytest.skip("index does not support saving")
        previous = os.umask(0o022)
        try:
            directory = Path(filled_index.save(tmp_path / "idx"))
        finally:
            os.umask(previous)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.rglob("*") if p.is_file()}
        assert modes and set(modes.values()) == {0o644}, modes

    def test_kill_during_save_leaves_the_old_or_the_new_index(
        self, filled_index: Any, other_index: Any, index_queries: tuple[Any, Any], tmp_path: Path
    ) -> None:
        """SIGKILL a child process at every file-system step of a save over an earlier save, and at random
        moments of saves in a loop: the directory always loads, as the old index or as the new one."""
        if not filled_index.capabilities.supports_save:
            pytest.skip("index does not support saving")
        directory = tmp_path / "idx"
        queries = index_queries[0]
        answers = {name: index.search(queries, k=5).ids.tolist() for name, index in
                   (("old", filled_index), ("new", other_index))}
        assert answers["old"] != answers["new"]

        def state() -> str:
            loaded = type(filled_index).load(directory)
            found = loaded.search(queries, k=5).ids.tolist()
            assert found in answers.values(), "a killed save left an index that is neither the old nor the new"
            return "old" if found == answers["old"] else "new"

        filled_index.save(directory)
        steps = count_steps(lambda: other_index.save(directory))
        assert state() == "new"
        seen, kills = set(), 0
        for step in range(1, steps + 1):
            filled_index.save(directory)
            kills += killed_at_step(lambda: other_index.save(directory), step)  # the last steps may vary
            seen.add(state())
        assert kills >= steps - 2 and seen == {"old", "new"}, f"{kills} kills at {steps} steps, outcomes {seen}"
        started = time.perf_counter()
        filled_index.save(directory)
        cycle = 2 * (time.perf_counter() - started)
        rng = random.Random(0)
        for _ in range(6):
            killed_after(lambda: (other_index.save(directory), filled_index.save(directory)), rng.uniform(0, cycle))
            state()
        filled_index.save(directory)  # a complete save clears what killed ones left behind
        manifest = json.loads((directory / MANIFEST_NAME).read_text())
        entries = {Path(name).parts[0] for name in manifest["files"]} | {MANIFEST_NAME}
        assert {p.name for p in directory.iterdir()} == entries

    # ------------------------------------------------------------------ arbitrary input
    def test_bool_and_huge_k_are_refused(self, filled_index: Any, index_queries: tuple[Any, Any]) -> None:
        with pytest.raises(InvalidInputError):
            filled_index.search(index_queries[0], k=True)
        with pytest.raises(RecplugError, match=r"GiB|TiB|PiB"):
            filled_index.search(index_queries[0], k=10**12)

    @PROPERTY_SETTINGS
    @given(data=ARBITRARY_INPUTS, k=st.one_of(st.integers(-3, 12), st.just(True), st.floats(0, 3), st.none()))
    def test_arbitrary_queries_give_results_or_recplug_errors(self, filled_index: Any, data: Any, k: Any) -> None:
        result = outcome(lambda: filled_index.search(data, k=k))
        if result.ok:
            assert result.value.ids.shape == result.value.scores.shape and result.value.ids.shape[1] == k

    @PROPERTY_SETTINGS
    @given(data=ARBITRARY_INPUTS)
    def test_arbitrary_documents_are_added_whole_or_refused(self, filled_index: Any, data: Any) -> None:
        before = len(filled_index)
        try:
            count = len(data)
        except TypeError:
            count = 1
        result = outcome(lambda: filled_index.add(data, [f"new{i}" for i in range(count)]))
        assert len(filled_index) == (before + count if result.ok else before), "a refused add changed the index"


def filled_index_metric(manifest_text: str) -> str:
    """The ``metric`` field of a manifest's text."""
    return str(json.loads(manifest_text).get("metric"))


def write_resealed_manifest(directory: Path, raw: dict[str, Any]) -> None:
    """Write manifest fields ``raw`` with a matching checksum of their own: a deliberately consistent but
    wrong manifest, to test that each index still checks its data files against it."""
    raw = {**raw, "manifest_sha256": manifest_digest(raw)}
    (Path(directory) / MANIFEST_NAME).write_text(json.dumps(raw))
