"""Atomic writes, manifests, input validation, multi-vector batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from recplug.errors import CorruptFileError, IncompatibleFileError, InvalidInputError
from recplug.fileio import atomic_folder, atomic_save_with, atomic_write_json, atomic_writer, read_json
from recplug.manifest import IndexManifest
from recplug.multivector import MultiVectorBatch
from recplug.validation import as_float32_matrix, check_ids


def test_concurrent_folder_saves_leave_each_others_staging_alone(tmp_path):
    """Two processes building the same cache folder at once (the demo's recsys workers on an empty cache): the
    save that finishes first must not remove the other's staging folder as a leftover of a killed save."""
    target = tmp_path / "ml-100k"
    with atomic_folder(target) as first:
        atomic_write_json(first / "meta.json", {"by": "first"})
        with atomic_folder(target) as second:
            atomic_write_json(second / "meta.json", {"by": "second"})
        assert read_json(target / "meta.json") == {"by": "second"}
        assert (first / "meta.json").exists()  # still there for the first save to finish
    assert read_json(target / "meta.json") == {"by": "first"}
    (tmp_path / ".ml-100k.killed.tmp").mkdir()  # a killed save's leftover (no lock held): removed by the next save
    with atomic_folder(target) as third:
        atomic_write_json(third / "meta.json", {"by": "third"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"partial")
        raise RuntimeError("interrupted")
    assert read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]

    def failing_save(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_save_with(target, failing_save)
    assert read_json(target) == {"v": 1}


def test_read_json_errors_name_the_file(tmp_path):
    with pytest.raises(CorruptFileError, match="missing"):
        read_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CorruptFileError, match=r"bad\.json"):
        read_json(tmp_path / "bad.json")


def test_manifest_checks(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"12345")
    IndexManifest("exact", 4, "ip", 2, files={"data.bin": ""}, encoder={"model": "m", "dim": 4}).write(tmp_path)
    assert IndexManifest.read(tmp_path, index="exact", encoder_config={"dim": 4, "model": "m"}).count == 2
    with pytest.raises(IncompatibleFileError, match="encoder config"):
        IndexManifest.read(tmp_path, index="exact", encoder_config={"model": "other", "dim": 4})
    with pytest.raises(IncompatibleFileError, match="dimension"):
        IndexManifest.read(tmp_path, index="exact", dimension=8)
    with pytest.raises(IncompatibleFileError, match="faiss"):
        IndexManifest.read(tmp_path, index="faiss")
    (tmp_path / "data.bin").write_bytes(b"12346")
    with pytest.raises(CorruptFileError, match="checksum"):
        IndexManifest.read(tmp_path, index="exact")


def test_matrix_validation_names_the_problem():
    with pytest.raises(InvalidInputError, match="wrong dimension 3, expected 4"):
        as_float32_matrix(np.zeros((2, 3)), dimension=4)
    with pytest.raises(InvalidInputError, match="NaN"):
        as_float32_matrix(np.array([[1.0, np.nan]]))
    with pytest.raises(InvalidInputError, match="2-D"):
        as_float32_matrix(np.zeros((2, 2, 2)))
    with pytest.raises(InvalidInputError, match="duplicate"):
        check_ids(["a", "a"], 2)
    assert as_float32_matrix([1.0, 2.0], dimension=2).shape == (1, 2)


def test_multivector_batch():
    batch = MultiVectorBatch.from_sets([np.ones((2, 3)), np.zeros((1, 3))])
    assert len(batch) == 2 and batch.lengths.tolist() == [2, 1] and batch[1].shape == (1, 3)
    assert batch.select([1, 0]).lengths.tolist() == [1, 2]
    with pytest.raises(InvalidInputError, match="empty"):
        MultiVectorBatch.from_sets([np.ones((2, 3)), np.ones((0, 3))])
    with pytest.raises(InvalidInputError, match="ragged"):
        MultiVectorBatch.from_sets([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(InvalidInputError, match="set 1 contains NaN"):
        MultiVectorBatch.from_sets([np.ones((2, 3)), np.full((1, 3), np.nan)])
    with pytest.raises(InvalidInputError, match="no multi-vector sets"):
        MultiVectorBatch.from_sets([])


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_writes_get_an_ordinary_files_mode(tmp_path, umask) -> None:
    """Issue 30, finding 6: outputs were written 0600 (mkstemp's mode), unreadable by anyone else."""
    import os
    import stat

    previous = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "results.json", {"v": 1})
        atomic_save_with(tmp_path / "plot.png", lambda tmp: Path(tmp).write_bytes(b"png"))
        with atomic_writer(tmp_path / "run.tsv", "w") as handle:
            handle.write("q\t0\td\t1\n")
    finally:
        os.umask(previous)
    for name in ("results.json", "plot.png", "run.tsv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
