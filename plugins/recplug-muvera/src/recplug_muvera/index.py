"""The ``"muvera-chamfer"`` index: FDEs in FAISS for candidates, exact Chamfer to rerank them.

``add(sets, ids)`` stores each document's vectors (float16) and its document FDE (``AVERAGE`` with
``fill_empty_partitions``) in a FAISS inner-product index. ``search(queries, k)`` encodes each query's
FDE (``DEFAULT_SUM``), takes the top ``candidates`` by FDE inner product, optionally ball-carves the query
vectors, scores the candidates by exact Chamfer and returns the top ``k``. Shapes: ``D`` vector
dimension, ``N`` documents, ``Q`` queries, ``k`` results.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from recplug.checks import check_choice, check_int, check_real, check_str
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError
from recplug.fileio import atomic_save_with, atomic_writer
from recplug.generations import file_of, save_generation
from recplug.manifest import IndexManifest, check_loaded, library_versions
from recplug.memory import check_fits
from recplug.multivector import MultiVectorBatch, append_float16
from recplug.options import check_options
from recplug.protocols import IndexCapabilities, SearchResult
from recplug.validation import check_ids, check_k
from recplug_eval import (
    check_faiss_search_parameters,
    describe_faiss_index,
    faiss_message,
    import_faiss,
    innermost_faiss_index,
    train_faiss_index,
)

from recplug_muvera.chamfer import (
    BFloat16Screen,
    CandidateScreen,
    Int8Screen,
    ball_carve,
    chamfer_candidates,
    single_blas_thread,
)
from recplug_muvera.config import SETUP_FIELDS, FDEConfig, document_config
from recplug_muvera.fde import as_labelled_batch, paired_encoders

FAISS_FILE = "fde.faiss"
SETS_FILE = "vectors.npz"
RERANK_DTYPES = ("float32", "float16", "bfloat16", "int8")
#: the first-pass screen of each screened rerank dtype
SCREENS: dict[str, type[CandidateScreen]] = {"bfloat16": BFloat16Screen, "int8": Int8Screen}


@dataclass(frozen=True)
class ChamferIndexConfig:
    """Search settings of :class:`MuveraChamferIndex` (the FDE settings live in an :class:`FDEConfig`).

    Attributes:
        faiss_factory: FAISS ``index_factory`` string over FDEs with inner product: ``"Flat"`` (exact),
            ``"HNSW32,Flat"``, ``"IVF256,Flat"``, ``"PQ256x8"``, ``"IVF256,PQ256x8"``...
        candidates: FDE candidates reranked per query (``N`` in the paper); ``0`` returns FDE scores.
        ball_carving_tau: carve query vectors with this threshold before reranking (paper: 0.7); None: off.
        nprobe: IVF lists probed; ``ef_search``: HNSW search depth (None: FAISS defaults).
        rerank_dtype: ``"float32"`` keeps a float32 copy of the stored float16 vectors in memory for a
            faster rerank (twice the memory); ``"float16"`` converts the candidates at each query;
            ``"bfloat16"`` keeps a bfloat16 copy (the memory of the float16 one), scores every candidate
            with bfloat16 GEMMs (:class:`~recplug_muvera.chamfer.BFloat16Screen`; faster than float32 on
            CPUs with AVX512-BF16) and rescores the best ``k + rescore`` exactly; ``"int8"`` does the same
            from an int8 copy (half that memory) with int8 GEMMs (:class:`~recplug_muvera.chamfer.Int8Screen`).
        rescore: with a screened ``rerank_dtype`` (``"bfloat16"``, ``"int8"``), candidates beyond the top
            ``k`` rescored exactly.
    """

    faiss_factory: str = "Flat"
    candidates: int = 100
    ball_carving_tau: float | None = None
    nprobe: int | None = None
    ef_search: int | None = None
    rerank_dtype: str = "float32"
    rescore: int = 10

    def __post_init__(self) -> None:
        check_str(self.faiss_factory, "faiss_factory")
        check_choice(self.rerank_dtype, "rerank_dtype", RERANK_DTYPES)
        check_int(self.rescore, "rescore", low=0)
        check_int(self.candidates, "candidates", low=0)
        if self.ball_carving_tau is not None:
            check_real(self.ball_carving_tau, "ball_carving_tau", low=-1.0, high=1.0)
        check_faiss_search_parameters(self.faiss_factory, self.nprobe, self.ef_search)


class MuveraChamferIndex:
    """A :class:`recplug.protocols.RetrievalIndex` over multi-vector documents (``input="multivector"``).

    Args:
        dimension: ``D`` of the documents' vectors.
        **config: FDE fields of :func:`recplug_muvera.config.document_config` (``num_repetitions``,
            ``num_simhash_projections``, ``projection_dimension`` (None: identity), ``final_projection_dimension``,
            ``seed``, ``random_source``, ``fill_empty_partitions``; paper default (20, 5, 16)) and search
            fields of :class:`ChamferIndexConfig`.
    """

    name = "muvera-chamfer"
    capabilities = IndexCapabilities(exact=False, supports_removal=False, supports_save=True, input="multivector")
    recplug_options = frozenset({"dimension", *SETUP_FIELDS, *ChamferIndexConfig.__dataclass_fields__})

    def __init__(self, dimension: int, **config: Any) -> None:
        check_options(f"retrieval index {self.name!r}", {"dimension": dimension, **config}, self.recplug_options)
        fde = {key: config.pop(key) for key in SETUP_FIELDS if key in config}
        self.settings = ChamferIndexConfig(**config)
        self.dimension = check_int(dimension, "dimension", low=1)
        self.fde_config = document_config(self.dimension, **fde)
        self._documents, self._queries = paired_encoders(self.fde_config)
        self._index: Any = None
        self._values = np.zeros((0, self.dimension), np.float16)
        self._offsets = np.zeros(1, np.int64)
        self._ids: np.ndarray = np.zeros(0, np.int64)
        self._values32: np.ndarray | None = None
        self._screen: CandidateScreen | None = None
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ state
    def __len__(self) -> int:
        return int(self._ids.shape[0])

    @property
    def fde_dimension(self) -> int:
        return self.fde_config.output_dimension

    def _params(self) -> dict[str, Any]:
        return {"fde": self.fde_config.to_dict(), "search": self.settings.__dict__.copy()}

    def _check_size(self, sets: int, what: str) -> None:
        """Refuse, with the estimate, FDEs of ``sets`` documents or queries that cannot fit in memory: the
        FDEs and the FAISS index's copy of them (the encoders check their own working memory)."""
        check_fits(2 * max(1, sets) * self.fde_dimension * 4, f"{what} ({self.fde_dimension:,} dimensions each)")

    def _new_faiss(self) -> Any:
        faiss = import_faiss()
        try:
            return faiss.index_factory(self.fde_dimension, self.settings.faiss_factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ConfigError(f"FAISS cannot build {self.settings.faiss_factory!r}: {faiss_message(exc)}") from exc

    def _apply_search_params(self) -> None:
        """``nprobe`` / ``ef_search`` on the FAISS index (the config checked that the factory has them)."""
        faiss = import_faiss()
        inner = innermost_faiss_index(self._index)
        if self.settings.nprobe is not None:
            faiss.extract_index_ivf(self._index).nprobe = self.settings.nprobe
        if self.settings.ef_search is not None:
            inner.hnsw.efSearch = self.settings.ef_search

    def _batch(self, sets: Any, what: str) -> MultiVectorBatch:
        return as_labelled_batch(sets, self.dimension, what)

    # ------------------------------------------------------------------ add / search
    def add(self, vectors: MultiVectorBatch | Sequence[np.ndarray], ids: Sequence[Any] | np.ndarray) -> None:
        """Add ``N`` documents (a batch or a list of ``L_i x D`` arrays) with ``N`` unique ids."""
        batch = self._batch(vectors, "documents")
        new_ids = check_ids(ids, len(batch), existing=self._ids)
        if len(batch) == 0:
            return
        self._check_size(len(batch), f"FDEs of {len(batch)} documents")
        started = time.perf_counter()
        fdes = self._documents(batch)
        self.timings["fde_documents_s"] = self.timings.get("fde_documents_s", 0.0) + time.perf_counter() - started
        index = self._index if self._index is not None else self._new_faiss()
        if not index.is_trained:
            started = time.perf_counter()
            train_faiss_index(index, fdes, self.settings.faiss_factory)
            self.timings["faiss_train_s"] = time.perf_counter() - started
        self._index = index
        merged = np.concatenate([self._ids, new_ids]) if len(self._ids) else new_ids
        self._apply_search_params()
        self._index.add(fdes)
        self._values = append_float16(self._values, batch.values, f"float16 vectors of {len(batch)} documents")
        self._offsets = np.concatenate([self._offsets, self._offsets[-1] + batch.offsets[1:]])
        self._ids = merged
        self._values32 = self._screen = None
        self._rerank_vectors()  # the rerank copy is part of the build, not of the first query

    def remove(self, ids: Sequence[Any] | np.ndarray) -> int:
        """Not supported (``capabilities.supports_removal`` is False): FDEs live in FAISS indexes that
        cannot all remove, and the stored sets are one packed array. Rebuild without the documents instead.

        Raises:
            ConfigError: always.
        """
        raise ConfigError(f"index {self.name!r} cannot remove documents; build a new index without them")

    def search(self, queries: MultiVectorBatch | Sequence[np.ndarray], k: int) -> SearchResult:
        """Top ``k`` ids and Chamfer scores (FDE scores when ``candidates == 0``) for ``Q`` query sets."""
        batch = self._batch(queries, "queries")
        q = len(batch)
        k = check_k(k, q)
        self._check_size(q, f"FDEs of {q} queries")
        empty_id: Any = "" if self._ids.dtype.kind in "UO" else -1
        ids = np.full((q, k), empty_id, dtype=self._ids.dtype if self._ids.dtype.kind in "UO" else np.int64)
        scores = np.full((q, k), -np.inf, np.float32)
        if q == 0 or len(self) == 0:
            return SearchResult(ids=ids, scores=scores)
        if self.settings.rerank_dtype in SCREENS:
            with single_blas_thread():  # numpy's BLAS threads would contend with torch's on few cores
                return self._search(batch, k, ids, scores)
        return self._search(batch, k, ids, scores)

    def _search(self, batch: MultiVectorBatch, k: int, ids: np.ndarray, scores: np.ndarray) -> SearchResult:
        """:meth:`search` on a validated, non-empty batch, writing into the padded ``Q x k`` outputs."""
        q = len(batch)
        fdes = self._queries(batch)
        depth = min(len(self), max(self.settings.candidates, k) if self.settings.candidates else k)
        fde_scores, positions = self._index.search(fdes, depth)
        if not self.settings.candidates:
            return self._fill(ids, scores, positions[:, :k], fde_scores[:, :k])
        values, offsets = self._rerank_vectors()
        for i in range(q):
            found = positions[i][positions[i] >= 0]
            query = batch[i]
            if self.settings.ball_carving_tau is not None:
                query = ball_carve(query, self.settings.ball_carving_tau)
            if self.settings.rerank_dtype in SCREENS:
                found, exact = self._screened(query, found, k)
            else:
                exact = chamfer_candidates(query, values, offsets, found)
            order = np.lexsort((found, -exact))[:k]
            ids[i, : order.shape[0]] = self._ids[found[order]]
            scores[i, : order.shape[0]] = exact[order]
        return SearchResult(ids=ids, scores=scores)

    def _screened(self, query: np.ndarray, found: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k + rescore`` of ``found`` with the best first-pass Chamfer scores (all of them if fewer)
        and their exact Chamfer scores."""
        assert self._screen is not None  # made by _rerank_vectors
        keep = k + self.settings.rescore
        if found.shape[0] > keep:
            approx = self._screen.approximate(query, found)
            found = found[np.argpartition(-approx, keep - 1)[:keep]]
        return found, self._screen.exact(query, found)

    def _rerank_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Vectors the exact rerank reads (the float32 copy, or the first-pass screen, is made once, after
        add or load) and offsets."""
        screen = SCREENS.get(self.settings.rerank_dtype)
        if screen is not None and not isinstance(self._screen, screen) and len(self):
            self._screen = screen(self._values, self._offsets)
        if self.settings.rerank_dtype != "float32":
            return self._values, self._offsets
        if self._values32 is None or self._values32.shape[0] != self._values.shape[0]:
            self._values32 = self._values.astype(np.float32)
        return self._values32, self._offsets

    def _fill(self, ids: np.ndarray, scores: np.ndarray, positions: np.ndarray, values: np.ndarray) -> SearchResult:
        """Write FAISS results (``Q x depth``, depth <= k, -1 = none) into the padded ``Q x k`` outputs."""
        width = positions.shape[1]
        valid = positions >= 0
        ids[:, :width][valid] = self._ids[positions[valid]]
        scores[:, :width][valid] = values[valid]
        return SearchResult(ids=ids, scores=scores)

    def with_search(self, **search: Any) -> MuveraChamferIndex:
        """This index (same stored data) with other search settings, e.g. ``candidates=200``."""
        other = MuveraChamferIndex.__new__(MuveraChamferIndex)
        other.__dict__.update(self.__dict__)
        other.settings = replace(self.settings, **search)
        other.timings = dict(self.timings)
        other._rerank_vectors()  # a new rerank dtype's copy is made here, as after add, not in the first search
        return other

    def memory_bytes(self) -> int:
        """Bytes held for search: stored vectors (+ their rerank copy: float32, bfloat16 or int8) + offsets
        + the FAISS index."""
        faiss_bytes = 0
        if self._index is not None:
            faiss_bytes = int(import_faiss().serialize_index(self._index).nbytes)
        per_value = {"float32": 4, "float16": 0, "bfloat16": 2, "int8": 1}[self.settings.rerank_dtype]
        copy = self._values.shape[0] * self.dimension * per_value
        return int(self._values.nbytes + copy + self._offsets.nbytes + faiss_bytes)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> Path:
        """Write the FDE FAISS index, the documents' vectors (npz) and ``manifest.json`` into directory
        ``path``; a save killed at any moment leaves the previous save, or this one, loadable."""
        faiss = import_faiss()
        index = self._index if self._index is not None else self._new_faiss()

        def write_sets(target: Path) -> None:
            with atomic_writer(target) as handle:
                np.savez(handle, values=self._values, offsets=self._offsets, ids=self._ids)

        writers = {
            "fde": (".faiss", lambda target: atomic_save_with(target, lambda tmp: faiss.write_index(index, tmp))),
            "vectors": (".npz", write_sets),
        }
        manifest = IndexManifest(
            index=self.name,
            dimension=self.dimension,
            metric="chamfer",
            count=len(self),
            encoder=encoder_config,
            params=self._params(),
            library_versions=library_versions("numpy", "faiss-cpu"),
        )
        save_generation(Path(path), writers, manifest)
        return Path(path)

    @classmethod
    def load(cls, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> MuveraChamferIndex:
        """Read an index written by :meth:`save` (no pickle; the manifest's and files' checksums, encoder
        and FDE config, and the FAISS file's type, metric and dimension verified)."""
        faiss = import_faiss()
        path = Path(path)
        manifest = IndexManifest.read(path, index=cls.name, encoder_config=encoder_config)
        try:
            fde = FDEConfig.from_dict(manifest.params["fde"])
            search = dict(manifest.params["search"])
            index = cls(fde.dimension, **{key: getattr(fde, key) for key in SETUP_FIELDS}, **search)
        except (KeyError, TypeError, ConfigError) as exc:
            raise IncompatibleFileError(f"{path}: manifest has no valid FDE parameters ({exc})") from exc
        if manifest.metric != "chamfer" or fde.dimension != manifest.dimension:
            raise CorruptFileError(f"{path}: manifest metric / dimension do not describe a muvera-chamfer index")
        sets_file = file_of(manifest, path, "vectors", SETS_FILE)
        faiss_file = file_of(manifest, path, "fde", FAISS_FILE)
        try:
            with np.load(sets_file, allow_pickle=False) as data:
                values, offsets, ids = data["values"], data["offsets"], data["ids"]
            stored = faiss.read_index(str(faiss_file))
        except (ValueError, OSError, KeyError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(f"{path}: cannot be read ({exc})") from exc
        check_loaded(faiss_file, {**describe_faiss_index(index._new_faiss()), "count": manifest.count},
                     {**describe_faiss_index(stored), "count": int(stored.ntotal)})
        if (
            ids.shape != (manifest.count,)
            or offsets.shape != (manifest.count + 1,)
            or values.ndim != 2
            or values.shape != (int(offsets[-1]), manifest.dimension)
            or values.dtype != np.float16
        ):
            raise CorruptFileError(f"{sets_file}: stored shapes do not match the manifest")
        index._values, index._offsets, index._ids, index._index = values, offsets.astype(np.int64), ids, stored
        index._apply_search_params()
        index._rerank_vectors()
        return index
