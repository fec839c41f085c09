"""The ``"chamfer-exact"`` index: brute-force Chamfer (MaxSim) of every query against every document.

The reference that multi-vector approximations (``"muvera-chamfer"``, PLAID) are measured against, as a
system of its own: ``add(sets, ids)`` stores each document's vectors as float16 (``T x D`` values + ``N + 1``
offsets); ``search(queries, k)`` scores all ``Q x N`` pairs with :func:`recplug_muvera.chamfer.chamfer_matrix`
(blocked float32 GEMMs over the float16 vectors, a per-document max, every core) and returns the top
``k``. It lives in recplug-muvera beside its multi-vector encoder (``"minilm-tokens"``) and the
approximate index it checks, and shares their input validation and Chamfer kernels.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from recplug.checks import check_int, check_optional_int
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError
from recplug.fileio import atomic_writer
from recplug.generations import file_of, save_generation
from recplug.manifest import IndexManifest, library_versions
from recplug.multivector import MultiVectorBatch, append_float16
from recplug.protocols import IndexCapabilities, SearchResult
from recplug.validation import check_ids, check_k

from recplug_muvera.chamfer import chamfer_matrix
from recplug_muvera.fde import as_labelled_batch

SETS_FILE = "vectors.npz"
#: queries scored per :func:`chamfer_matrix` call (bounds the ``Q x N`` score matrix)
QUERY_BATCH = 256


class ChamferExactIndex:
    """A :class:`recplug.protocols.RetrievalIndex` over multi-vector documents (``input="multivector"``),
    exact: brute-force Chamfer against every document.

    Args:
        dimension: ``D`` of the documents' vectors.
        num_threads: workers of the scoring (None: every core).
    """

    name = "chamfer-exact"
    capabilities = IndexCapabilities(exact=True, supports_removal=False, supports_save=True, input="multivector")
    recplug_options = frozenset({"dimension", "num_threads"})

    def __init__(self, dimension: int, num_threads: int | None = None) -> None:
        self.dimension = check_int(dimension, "dimension", low=1)
        self.num_threads = check_optional_int(num_threads, "num_threads", low=1)
        self._values = np.zeros((0, self.dimension), np.float16)
        self._offsets = np.zeros(1, np.int64)
        self._ids: np.ndarray = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def _batch(self, sets: Any, what: str) -> MultiVectorBatch:
        return as_labelled_batch(sets, self.dimension, what)

    def add(self, vectors: MultiVectorBatch | Sequence[np.ndarray], ids: Sequence[Any] | np.ndarray) -> None:
        """Add ``N`` documents (a batch or a list of ``L_i x D`` arrays) with ``N`` unique ids."""
        batch = self._batch(vectors, "documents")
        new_ids = check_ids(ids, len(batch), existing=self._ids)
        if len(batch) == 0:
            return
        self._values = append_float16(self._values, batch.values, f"float16 vectors of {len(batch)} documents")
        self._offsets = np.concatenate([self._offsets, self._offsets[-1] + batch.offsets[1:]])
        self._ids = np.concatenate([self._ids, new_ids]) if len(self._ids) else new_ids

    def remove(self, ids: Sequence[Any] | np.ndarray) -> int:
        """Not supported (``capabilities.supports_removal`` is False): the sets are one packed array.

        Raises:
            ConfigError: always.
        """
        raise ConfigError(f"index {self.name!r} cannot remove documents; build a new index without them")

    def search(self, queries: MultiVectorBatch | Sequence[np.ndarray], k: int) -> SearchResult:
        """Top ``k`` ids and exact Chamfer scores (``Q x k``, best first, ties by insertion order; padded
        with ``""`` / ``-1`` and ``-inf`` beyond the corpus) of ``Q`` query sets."""
        batch = self._batch(queries, "queries")
        q = len(batch)
        k = check_k(k, q)
        strings = self._ids.dtype.kind in "UO"
        ids = np.full((q, k), "" if strings else -1, dtype=self._ids.dtype if strings else np.int64)
        scores = np.full((q, k), -np.inf, np.float32)
        n = len(self)
        if q == 0 or n == 0:
            return SearchResult(ids=ids, scores=scores)
        depth = min(k, n)
        for lo in range(0, q, QUERY_BATCH):
            part = batch.select(np.arange(lo, min(q, lo + QUERY_BATCH)))
            matrix = chamfer_matrix(part, self._values, self._offsets, num_threads=self.num_threads)
            top = np.argpartition(-matrix, depth - 1, axis=1)[:, :depth] if depth < n else np.tile(np.arange(n), (len(part), 1))
            for row in range(len(part)):
                found = top[row]
                exact = matrix[row, found]
                order = np.lexsort((found, -exact))
                ids[lo + row, :depth] = self._ids[found[order]]
                scores[lo + row, :depth] = exact[order]
        return SearchResult(ids=ids, scores=scores)

    def memory_bytes(self) -> int:
        """Bytes held for search: the float16 vectors, their offsets and the ids."""
        return int(self._values.nbytes + self._offsets.nbytes + self._ids.nbytes)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> Path:
        """Write the documents' vectors (npz) and ``manifest.json`` into directory ``path``; a save killed at
        any moment leaves the previous save, or this one, loadable."""

        def write_sets(target: Path) -> None:
            with atomic_writer(target) as handle:
                np.savez(handle, values=self._values, offsets=self._offsets, ids=self._ids)

        manifest = IndexManifest(
            index=self.name,
            dimension=self.dimension,
            metric="chamfer",
            count=len(self),
            encoder=encoder_config,
            params={"num_threads": self.num_threads},
            library_versions=library_versions("numpy"),
        )
        save_generation(Path(path), {"vectors": (".npz", write_sets)}, manifest)
        return Path(path)

    @classmethod
    def load(cls, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> ChamferExactIndex:
        """Read an index written by :meth:`save` (no pickle; the manifest's and files' checksums, the
        encoder config and the stored shapes verified)."""
        path = Path(path)
        manifest = IndexManifest.read(path, index=cls.name, encoder_config=encoder_config)
        if manifest.metric != "chamfer":
            raise CorruptFileError(f"{path}: manifest metric {manifest.metric!r} is not 'chamfer'")
        try:
            index = cls(manifest.dimension, num_threads=manifest.params.get("num_threads"))
        except (TypeError, ConfigError) as exc:
            raise IncompatibleFileError(f"{path}: manifest has no valid parameters ({exc})") from exc
        sets_file = file_of(manifest, path, "vectors", SETS_FILE)
        try:
            with np.load(sets_file, allow_pickle=False) as data:
                values, offsets, ids = data["values"], data["offsets"], data["ids"]
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(f"{path}: cannot be read ({exc})") from exc
        if (
            ids.shape != (manifest.count,)
            or offsets.shape != (manifest.count + 1,)
            or values.ndim != 2
            or values.shape != (int(offsets[-1]), manifest.dimension)
            or values.dtype != np.float16
            or (manifest.count and int(np.diff(offsets).min()) < 1)
        ):
            raise CorruptFileError(f"{sets_file}: stored shapes do not match the manifest")
        index._values, index._offsets, index._ids = values, offsets.astype(np.int64), ids
        return index
