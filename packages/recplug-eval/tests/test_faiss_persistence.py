"""Saving and loading FAISS indexes: manifest checks, damaged files, and saves that fail halfway."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from recplug.errors import CorruptFileError, IncompatibleFileError
from recplug.fileio import sha256_file
from recplug.manifest import MANIFEST_NAME
from recplug.testing import write_resealed_manifest
from recplug_eval.indexes import faiss_index as faiss_index_module
from recplug_eval.indexes.faiss_backend import faiss_threads
from recplug_eval.indexes.faiss_index import FaissIndex

D = 16
ENCODER = {"name": "toy-encoder", "dimension": D, "pooling": "mean"}


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    with faiss_threads(1):
        yield


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, D)).astype(np.float32)


def filled(factory: str = "Flat", n: int = 300, **kwargs) -> FaissIndex:
    index = FaissIndex(D, factory, "l2", **kwargs)
    index.add(vectors(n), [f"doc{i}" for i in range(n)])
    return index


def manifest_of(directory: Path) -> dict:
    return json.loads((directory / MANIFEST_NAME).read_text())


def data_file(directory: Path, role: str) -> Path:
    return directory / manifest_of(directory)["params"]["layout"][role]


# ---------------------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [("Flat", {"shards": 3}), ("IVF{nlist},Flat", {"nprobe": 3}), ("HNSW8", {"ef_search": 16}), ("PQ4x4np", {})],
)
def test_round_trip_keeps_results_config_and_manifest(tmp_path: Path, factory: str, kwargs: dict) -> None:
    index = filled(factory, **kwargs)
    index.save(tmp_path / "idx", encoder_config=ENCODER)
    loaded = FaissIndex.load(tmp_path / "idx", encoder_config=ENCODER, dimension=D)
    queries = vectors(7, seed=9)
    before, after = index.search(queries, 10), loaded.search(queries, 10)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_allclose(before.scores, after.scores, rtol=1e-6)
    assert loaded.config == index.config and loaded.name == index.name
    manifest = manifest_of(tmp_path / "idx")
    assert manifest["index"] == "faiss" and manifest["dimension"] == D and manifest["metric"] == "l2"
    assert manifest["count"] == 300 and manifest["encoder"] == ENCODER
    assert manifest["library_versions"]["faiss"] and manifest["library_versions"]["faiss-cpu"] != "absent"
    assert set(manifest["files"]) == set(manifest["params"]["layout"].values())
    for name, digest in manifest["files"].items():
        assert sha256_file(tmp_path / "idx" / name) == digest


def test_integer_ids_and_removals_survive_a_round_trip(tmp_path: Path) -> None:
    index = FaissIndex(D, "Flat")
    index.add(vectors(20), np.arange(100, 120))
    index.remove([100, 101])
    index.save(tmp_path / "idx")
    loaded = FaissIndex.load(tmp_path / "idx")
    assert len(loaded) == 18 and loaded.search(vectors(20)[5:6], 1).ids.tolist() == [[105]]
    loaded.add(vectors(1, seed=5), [500])  # the label counter was restored: no clash with stored labels
    assert loaded.search(vectors(1, seed=5), 1).ids.tolist() == [[500]]


def test_an_untrained_empty_index_round_trips(tmp_path: Path) -> None:
    FaissIndex(D, "IVF{nlist},Flat").save(tmp_path / "idx")
    loaded = FaissIndex.load(tmp_path / "idx")
    assert len(loaded) == 0 and not loaded.is_trained
    loaded.add(vectors(100), list(range(100)))
    assert loaded.config.factory == "IVF2,Flat"


# ---------------------------------------------------------------------------------------------------- mismatches
def test_other_encoder_config_is_incompatible(tmp_path: Path) -> None:
    filled().save(tmp_path / "idx", encoder_config=ENCODER)
    with pytest.raises(IncompatibleFileError, match="encoder config"):
        FaissIndex.load(tmp_path / "idx", encoder_config={**ENCODER, "pooling": "cls"})


def test_other_dimension_is_incompatible(tmp_path: Path) -> None:
    filled().save(tmp_path / "idx", encoder_config=ENCODER)
    with pytest.raises(IncompatibleFileError, match="dimension is 16, expected 32"):
        FaissIndex.load(tmp_path / "idx", dimension=32)


def test_another_index_type_is_incompatible(tmp_path: Path) -> None:
    from recplug.builtins.exact_index import ExactIndex

    exact = ExactIndex(D)
    exact.add(vectors(3), ["a", "b", "c"])
    exact.save(tmp_path / "exact")
    with pytest.raises(IncompatibleFileError, match="'exact' index"):
        FaissIndex.load(tmp_path / "exact")


# ---------------------------------------------------------------------------------------------------- damage
@pytest.mark.parametrize("role", ["shard0", "ids"])
def test_truncated_file_is_corrupt(tmp_path: Path, role: str) -> None:
    filled().save(tmp_path / "idx")
    victim = data_file(tmp_path / "idx", role)
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(CorruptFileError, match="checksum"):
        FaissIndex.load(tmp_path / "idx")


@pytest.mark.parametrize("role", ["shard0", "ids"])
def test_damaged_file_with_matching_checksum_is_still_caught_by_the_reader(tmp_path: Path, role: str) -> None:
    """A file damaged before it was checksummed: the FAISS / npz readers must still refuse it."""
    filled().save(tmp_path / "idx")
    victim = data_file(tmp_path / "idx", role)
    victim.write_bytes(victim.read_bytes()[:40])
    manifest = manifest_of(tmp_path / "idx")
    manifest["files"][victim.name] = sha256_file(victim)
    write_resealed_manifest(tmp_path / "idx", manifest)
    with pytest.raises(CorruptFileError, match="cannot"):
        FaissIndex.load(tmp_path / "idx")


def test_missing_file_and_count_mismatch_are_corrupt(tmp_path: Path) -> None:
    filled().save(tmp_path / "idx")
    manifest = manifest_of(tmp_path / "idx")
    manifest["count"] = 299
    write_resealed_manifest(tmp_path / "idx", manifest)
    with pytest.raises(CorruptFileError, match="counts 299 vectors"):
        FaissIndex.load(tmp_path / "idx")
    data_file(tmp_path / "idx", "shard0").unlink()
    with pytest.raises(CorruptFileError, match="missing"):
        FaissIndex.load(tmp_path / "idx")


def test_missing_directory_is_corrupt(tmp_path: Path) -> None:
    with pytest.raises(CorruptFileError, match="missing"):
        FaissIndex.load(tmp_path / "nothing-here")


# ---------------------------------------------------------------------------------------------------- failed saves
def test_a_save_failing_while_writing_faiss_keeps_the_previous_save(tmp_path: Path, monkeypatch) -> None:
    import faiss

    old = filled(n=300)
    old.save(tmp_path / "idx", encoder_config=ENCODER)
    files_before = sorted(p.name for p in (tmp_path / "idx").iterdir())
    new = filled(n=50, shards=2)

    calls = []

    def broken_write(index, name) -> None:  # writes a partial file, then fails (disk full)
        calls.append(name)
        if len(calls) == 2:
            Path(name).write_bytes(b"partial")
            raise RuntimeError("disk full")
        faiss.write_index(index, name)

    monkeypatch.setattr(faiss_index_module.fb, "import_faiss", lambda: _FaissWith(write_index=broken_write))
    with pytest.raises(RuntimeError, match="disk full"):
        new.save(tmp_path / "idx", encoder_config=ENCODER)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == files_before  # no leftovers
    loaded = FaissIndex.load(tmp_path / "idx", encoder_config=ENCODER)
    assert len(loaded) == 300 and loaded.config.shards == 1


def test_a_save_failing_at_the_manifest_keeps_the_previous_save(tmp_path: Path, monkeypatch) -> None:
    filled(n=300).save(tmp_path / "idx")

    def broken_manifest_write(self, directory) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(faiss_index_module.IndexManifest, "write", broken_manifest_write)
    with pytest.raises(OSError, match="no space"):
        filled(n=10).save(tmp_path / "idx")
    monkeypatch.undo()
    assert len(FaissIndex.load(tmp_path / "idx")) == 300


def test_saving_again_replaces_old_files_and_keeps_unrelated_ones(tmp_path: Path) -> None:
    directory = tmp_path / "idx"
    filled(n=300).save(directory)
    (directory / "notes.txt").write_text("mine")
    first = set(manifest_of(directory)["files"])
    filled(n=20).save(directory)
    second = set(manifest_of(directory)["files"])
    assert not first & second
    assert {p.name for p in directory.iterdir()} == second | {MANIFEST_NAME, "notes.txt"}
    assert len(FaissIndex.load(directory)) == 20


class _FaissWith:
    """The real faiss module with some attributes replaced."""

    def __init__(self, **overrides) -> None:
        import faiss

        self._faiss, self._overrides = faiss, overrides

    def __getattr__(self, name: str):
        return self._overrides.get(name) or getattr(self._faiss, name)


# ---------------------------------------------------------------------------------------------------- trusted manifest
def test_manifest_metric_edited_without_resealing_is_refused(tmp_path: Path) -> None:
    """Issue 30, finding 2: editing ``metric`` (checksums untouched) used to negate every score."""
    filled("Flat").save(tmp_path / "idx")
    manifest = manifest_of(tmp_path / "idx")
    manifest["metric"] = "ip"
    (tmp_path / "idx" / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(CorruptFileError, match="own checksum"):
        FaissIndex.load(tmp_path / "idx")


def test_resealed_manifest_with_another_metric_is_refused_by_the_shard_check(tmp_path: Path) -> None:
    """Even a manifest consistent with itself must agree with the FAISS file it names."""
    filled("Flat").save(tmp_path / "idx")
    manifest = manifest_of(tmp_path / "idx")
    manifest["metric"] = manifest["params"]["config"]["metric"] = "ip"
    write_resealed_manifest(tmp_path / "idx", manifest)
    with pytest.raises(CorruptFileError, match=r"metric 'ip'.*holds 'l2'"):
        FaissIndex.load(tmp_path / "idx")


def test_hnsw_file_in_place_of_a_flat_shard_is_refused(tmp_path: Path) -> None:
    """Issue 30, finding 2: an HNSW file swapped in for a Flat shard (checksum recomputed) loaded and
    answered approximately."""
    filled("Flat").save(tmp_path / "flat")
    filled("HNSW8").save(tmp_path / "hnsw")
    victim = data_file(tmp_path / "flat", "shard0")
    victim.write_bytes(data_file(tmp_path / "hnsw", "shard0").read_bytes())
    manifest = manifest_of(tmp_path / "flat")
    manifest["files"][victim.name] = sha256_file(victim)
    write_resealed_manifest(tmp_path / "flat", manifest)
    with pytest.raises(CorruptFileError, match=r"type 'IndexFlat'.*'IndexHNSWFlat'"):
        FaissIndex.load(tmp_path / "flat")
