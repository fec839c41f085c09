"""The core's exact (brute-force) index in NumPy: the reference every other index is checked against."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recplug.errors import ConfigError, CorruptFileError
from recplug.fileio import atomic_writer
from recplug.generations import file_of, save_generation
from recplug.manifest import IndexManifest, check_loaded, library_versions
from recplug.protocols import IndexCapabilities, SearchResult
from recplug.validation import as_float32_matrix, check_ids, check_k, normalize_rows

METRICS = ("ip", "l2", "cosine")
DATA_FILE = "vectors.npz"


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``k`` of a ``Q x N`` score matrix: (positions Q x k int64, scores Q x k), best first;
    ties go to the lower position. Rows shorter than ``k`` are padded with -1 / -inf."""
    q, n = scores.shape
    kk = min(k, n)
    if kk == 0:
        return np.full((q, k), -1, np.int64), np.full((q, k), -np.inf, np.float32)
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (q, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    pos = np.take_along_axis(part, order, axis=1).astype(np.int64)
    val = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    if kk < k:
        pos = np.pad(pos, ((0, 0), (0, k - kk)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return pos, val


def positions_to_ids(positions: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Map ``Q x k`` positions (-1 = empty) to stored ids ("" or -1 for empty slots)."""
    empty: Any = "" if ids.dtype.kind in "UO" else -1
    if len(ids) == 0:
        return np.full(positions.shape, empty, dtype=ids.dtype if ids.dtype.kind in "UO" else np.int64)
    out = ids[np.clip(positions, 0, None)]
    out[positions < 0] = empty
    return out


class ExactIndex:
    """Brute-force top-k over float32 vectors.

    Args:
        dimension: ``D``.
        metric: ``"ip"`` (inner product), ``"cosine"`` (rows normalised on add and search) or ``"l2"``
            (scores are negated squared distances).
    """

    name = "exact"
    capabilities = IndexCapabilities(exact=True, supports_removal=True, supports_save=True)

    def __init__(self, dimension: int, metric: str = "ip") -> None:
        if int(dimension) <= 0:
            raise ConfigError(f"dimension must be positive, got {dimension}")
        if metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        self.dimension = int(dimension)
        self.metric = metric
        self._vectors = np.zeros((0, self.dimension), np.float32)
        self._ids: np.ndarray = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def memory_bytes(self) -> int:
        """Bytes of the stored ``N x D`` float32 vectors."""
        return int(self._vectors.nbytes)

    def _prepare(self, x: Any, name: str) -> np.ndarray:
        x = as_float32_matrix(x, name=name, dimension=self.dimension)
        return normalize_rows(x, name=name) if self.metric == "cosine" else x

    def add(self, vectors: Any, ids: Sequence[Any] | np.ndarray) -> None:
        """Add ``N x D`` vectors with ``N`` unique ids (all integers or all strings)."""
        x = self._prepare(vectors, "vectors")
        new_ids = check_ids(ids, x.shape[0], existing=self._ids)
        merged = np.concatenate([self._ids, new_ids]) if len(self._ids) else new_ids
        self._vectors = np.concatenate([self._vectors, x])
        self._ids = merged

    def remove(self, ids: Sequence[Any]) -> int:
        """Remove the given ids; returns how many were removed."""
        keep = ~np.isin(self._ids, np.asarray(ids))
        removed = int((~keep).sum())
        self._vectors, self._ids = self._vectors[keep], self._ids[keep]
        return removed

    def scores(self, queries: Any) -> np.ndarray:
        """``Q x N`` scores of every stored vector (higher is better)."""
        q = self._prepare(queries, "queries")
        if self.metric == "l2":
            return -((q * q).sum(1, keepdims=True) - 2.0 * q @ self._vectors.T + (self._vectors**2).sum(1)[None, :])
        return q @ self._vectors.T

    def search(self, queries: Any, k: int) -> SearchResult:
        """Top ``k`` ids and scores for each of ``Q x D`` queries."""
        scores = self.scores(queries)
        positions, values = top_k(scores, check_k(k, scores.shape[0]))
        return SearchResult(ids=positions_to_ids(positions, self._ids), scores=values)

    def save(self, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> Path:
        """Write the vectors and ids (npz) and ``manifest.json`` into directory ``path``; a save killed at
        any moment leaves the previous save, or this one, loadable (:mod:`recplug.generations`)."""

        def write_vectors(target: Path) -> None:
            with atomic_writer(target) as handle:
                np.savez(handle, vectors=self._vectors, ids=self._ids)

        manifest = IndexManifest(
            index=self.name,
            dimension=self.dimension,
            metric=self.metric,
            count=len(self),
            encoder=encoder_config,
            library_versions=library_versions("numpy"),
        )
        save_generation(Path(path), {"vectors": (".npz", write_vectors)}, manifest)
        return Path(path)

    @classmethod
    def load(cls, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> ExactIndex:
        """Read an index written by :meth:`save` (no pickle; the manifest's and the files' checksums, the
        encoder config, and the data's shape and type against the manifest, verified)."""
        path = Path(path)
        manifest = IndexManifest.read(path, index=cls.name, encoder_config=encoder_config)
        data_file = file_of(manifest, path, "vectors", DATA_FILE)
        try:
            with np.load(data_file, allow_pickle=False) as data:
                vectors, ids = data["vectors"], data["ids"]
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(f"{data_file}: cannot be read ({exc})") from exc
        try:
            index = cls(manifest.dimension, manifest.metric)
        except ConfigError as exc:
            raise CorruptFileError(f"{path}: manifest describes no valid exact index ({exc})") from exc
        check_loaded(
            data_file,
            {"shape": (manifest.count, manifest.dimension), "ids": (manifest.count,), "dtype": "float32"},
            {"shape": vectors.shape, "ids": ids.shape, "dtype": str(vectors.dtype)},
        )
        if ids.dtype.kind not in "iuU":
            raise CorruptFileError(f"{data_file}: ids have dtype {ids.dtype}, expected integers or strings")
        index._vectors, index._ids = vectors, ids
        return index
