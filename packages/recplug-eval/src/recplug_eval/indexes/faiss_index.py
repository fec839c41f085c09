"""FAISS retrieval indexes (flat, IVF, PQ, HNSW; sharded; GPU when present) as recplug components.

:class:`FaissIndex` follows :class:`recplug.protocols.RetrievalIndex` and the core's
:class:`recplug.builtins.exact_index.ExactIndex`: ids are any unique integers or strings (FAISS stores
its own int64 labels, mapped back to the caller's ids), scores are "higher is better" (L2 gives negated
squared distances) and empty slots hold ``""``/``-1`` with ``-inf`` scores. faiss is imported when an
index is built, never when this module is imported.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from recplug.builtins.exact_index import positions_to_ids
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError, InvalidInputError
from recplug.fileio import atomic_save_with, atomic_writer
from recplug.generations import file_of, save_generation
from recplug.manifest import IndexManifest, check_loaded, library_versions
from recplug.protocols import IndexCapabilities, SearchResult
from recplug.records import RetrievalIndexSpec
from recplug.validation import as_float32_matrix, check_ids, check_k, normalize_rows

from recplug_eval.indexes import faiss_backend as fb
from recplug_eval.indexes.faiss_config import NLIST_PLACEHOLDER, FaissIndexConfig
from recplug_eval.indexes.faiss_support import innermost

#: ``index`` field of the manifest of every saved :class:`FaissIndex`, whatever its component name.
MANIFEST_INDEX = "faiss"
#: Vectors passed to FAISS per ``add_with_ids`` call (one progress-bar step); graph indexes take all at once.
ADD_CHUNK = 65_536


class FaissIndex:
    """A FAISS index built from a factory string, possibly split over shards searched as one.

    Args:
        dimension: ``D``.
        factory, metric, nprobe, ef_search, ef_construction, shards, device, train_size, seed: see
            :class:`recplug_eval.indexes.faiss_config.FaissIndexConfig`.
        name: the component name reported by ``index.name``.

    Indexes that need training (IVF, PQ) train on the first :meth:`add` (or an explicit :meth:`train`).
    ``capabilities.supports_removal`` says whether :meth:`remove` works (not for HNSW, not on GPU).
    """

    def __init__(
        self,
        dimension: int,
        factory: str = "Flat",
        metric: str = "ip",
        *,
        nprobe: int | None = None,
        ef_search: int | None = None,
        ef_construction: int | None = None,
        shards: int = 1,
        device: str = "auto",
        train_size: int | None = None,
        seed: int = 0,
        name: str = "faiss",
    ) -> None:
        if not isinstance(dimension, (int, np.integer)) or int(dimension) <= 0:
            raise ConfigError(f"dimension must be a positive integer, got {dimension!r}")
        self.dimension = int(dimension)
        self.name = name
        self.config = FaissIndexConfig(
            factory=factory,
            metric=metric,
            nprobe=nprobe,
            ef_search=ef_search,
            ef_construction=ef_construction,
            shards=shards,
            device=device,
            train_size=train_size,
            seed=seed,
        )
        self._labels = np.zeros(0, np.int64)  # FAISS labels, increasing; parallel to _ids
        self._ids: np.ndarray = np.zeros(0, np.int64)
        self._next_label = 0
        self._shards: list[Any] = []  # one FAISS index per shard (GPU copies when on the GPU)
        self._searcher: Any = None  # the single shard or an IndexShards over them
        probe = fb.build_index(self.config.resolved(39), self.dimension)
        self._on_gpu = fb.use_gpu(self.config, probe)
        self._gpu = fb.GpuPlacement() if self._on_gpu else None
        self._add_chunk = None if fb.is_graph(probe) else ADD_CHUNK
        self.capabilities = IndexCapabilities(
            exact=self.config.is_exact,
            supports_removal=fb.supports_removal(probe) and not self._on_gpu,
            supports_gpu=fb.gpu_capable(probe),
            supports_save=True,
            input="dense",
        )
        if probe.is_trained and NLIST_PLACEHOLDER not in self.config.factory:
            self._install([probe])

    # ------------------------------------------------------------------ state
    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def memory_bytes(self) -> int:
        """Bytes of every shard's codes (the vectors for flat indexes) plus coarse centroids (IVF) and graph
        links (HNSW); not the ids. From the index's sizes, without copying it."""
        return sum(_faiss_bytes(shard) for shard in self._shards)

    @property
    def is_trained(self) -> bool:
        """Whether the index can take vectors (always true for flat and HNSW)."""
        return self._searcher is not None

    @property
    def on_gpu(self) -> bool:
        """Whether the shards live on GPUs."""
        return self._on_gpu

    def _install(self, shards: list[Any]) -> None:
        """Use trained CPU ``shards`` (one index is cloned to ``config.shards`` copies), placing them on
        the GPU when configured and applying the search parameters."""
        faiss = fb.import_faiss()
        if len(shards) == 1 and self.config.shards > 1:
            shards = [shards[0], *(faiss.clone_index(shards[0]) for _ in range(self.config.shards - 1))]
        if self._gpu is not None:
            shards = [self._gpu.to_gpu(shard, i) for i, shard in enumerate(shards)]
        for shard in shards:
            fb.set_search_parameters(shard, self.config, on_gpu=self._on_gpu)
        self._shards = shards
        if len(shards) == 1:
            self._searcher = shards[0]
        else:
            self._searcher = faiss.IndexShards(self.dimension, True, False)
            for shard in shards:
                self._searcher.add_shard(shard)

    def _prepare(self, x: Any, name: str) -> np.ndarray:
        """``x`` as checked float32 ``N x D``; rows L2-normalised for the cosine metric."""
        x = as_float32_matrix(x, name=name, dimension=self.dimension)
        return normalize_rows(x, name=name) if self.config.metric == "cosine" else x

    # ------------------------------------------------------------------ building
    def set_search_parameters(self, *, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Change ``nprobe`` (IVF) or ``ef_search`` (HNSW) for later searches."""
        updates: dict[str, Any] = {
            key: value for key, value in (("nprobe", nprobe), ("ef_search", ef_search)) if value is not None
        }
        self.config = replace(self.config, **updates)
        for shard in self._shards:
            fb.set_search_parameters(shard, self.config, on_gpu=self._on_gpu)

    def train(self, vectors: Any) -> None:
        """Train on ``N x D`` vectors (at most ``config.train_size`` of them, sampled with ``config.seed``).

        Raises:
            InvalidInputError: already trained, or too few vectors for the factory.
        """
        if self.is_trained:
            raise InvalidInputError(f"factory {self.config.factory!r} is already trained (or needs no training)")
        x = self._prepare(vectors, "vectors")
        if self.config.train_size is not None and x.shape[0] > self.config.train_size:
            rng = np.random.default_rng(self.config.seed)
            x = x[np.sort(rng.choice(x.shape[0], self.config.train_size, replace=False))]
        self.config = self.config.resolved(x.shape[0])
        template = fb.build_index(self.config, self.dimension)
        fb.train_index(template, x, self.config.factory)
        self._install([template])

    def add(self, vectors: Any, ids: Sequence[Any] | np.ndarray) -> None:
        """Add ``N x D`` vectors with ``N`` unique ids (all integers or all strings, as in earlier adds).
        An untrained index is first trained on these vectors."""
        x = self._prepare(vectors, "vectors")
        new_ids = check_ids(ids, x.shape[0], existing=self._ids)
        if x.shape[0] == 0:
            return
        if not self.is_trained:
            self.train(x)
        labels = np.arange(self._next_label, self._next_label + x.shape[0], dtype=np.int64)
        from recplug_eval.progress import progress

        chunk = self._add_chunk or x.shape[0]
        starts = range(0, x.shape[0], chunk)
        bar = progress(
            total=x.shape[0], desc=f"faiss add ({self.config.factory})", unit="vec", disable=x.shape[0] < 200_000
        )
        with bar:
            for start in starts:
                self._searcher.add_with_ids(x[start : start + chunk], labels[start : start + chunk])
                bar.update(min(chunk, x.shape[0] - start))
        self._labels = np.concatenate([self._labels, labels])
        self._ids = np.concatenate([self._ids, new_ids]) if len(self._ids) else new_ids
        self._next_label += x.shape[0]

    def remove(self, ids: Sequence[Any] | np.ndarray) -> int:
        """Remove the given ids (unknown ones are ignored); returns how many were removed.

        Raises:
            ConfigError: the index type cannot remove (``capabilities.supports_removal`` is False).
        """
        if not self.capabilities.supports_removal:
            where = "on the GPU" if self._on_gpu else f"with factory {self.config.factory!r}"
            raise ConfigError(f"FAISS cannot remove vectors from this index ({where}); see capabilities")
        mask = np.isin(self._ids, np.asarray(ids))
        if not mask.any():
            return 0
        labels = np.ascontiguousarray(self._labels[mask])
        removed = sum(int(shard.remove_ids(labels)) for shard in self._shards)
        if removed != labels.shape[0]:
            raise RuntimeError(f"FAISS removed {removed} vectors, expected {labels.shape[0]} (ids out of sync)")
        self._labels, self._ids = self._labels[~mask], self._ids[~mask]
        return removed

    # ------------------------------------------------------------------ searching
    def search(self, queries: Any, k: int) -> SearchResult:
        """Top ``k`` ids (Q x k) and scores (Q x k float32, best first) for ``Q x D`` queries."""
        q = self._prepare(queries, "queries")
        k = check_k(k, q.shape[0])
        if len(self) == 0:
            positions = np.full((q.shape[0], k), -1, np.int64)
            return SearchResult(
                ids=positions_to_ids(positions, self._ids), scores=np.full((q.shape[0], k), -np.inf, np.float32)
            )
        distances, labels = self._searcher.search(q, k)
        empty = labels < 0
        scores = (-distances if self.config.metric == "l2" else distances).astype(np.float32)
        scores[empty] = -np.inf
        positions = np.searchsorted(self._labels, labels)
        positions[empty] = -1
        return SearchResult(ids=positions_to_ids(positions, self._ids), scores=scores)

    # ------------------------------------------------------------------ saving
    def _cpu_shards(self) -> list[Any]:
        return [self._gpu.to_cpu(shard) for shard in self._shards] if self._gpu is not None else self._shards

    def save(self, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> Path:
        """Write the FAISS index files (one per shard), ``ids`` (npz) and ``manifest.json`` into
        directory ``path``; a save that fails leaves an earlier save in ``path`` readable."""
        faiss = fb.import_faiss()
        path = Path(path)

        def shard_writer(shard: Any):
            return lambda target: atomic_save_with(target, lambda tmp: faiss.write_index(shard, tmp))

        def write_ids(target: Path) -> None:
            with atomic_writer(target) as handle:
                np.savez(handle, labels=self._labels, ids=self._ids, next_label=np.int64(self._next_label))

        writers = {"ids": (".npz", write_ids)}
        for i, shard in enumerate(self._cpu_shards()):
            writers[f"shard{i}"] = (".faiss", shard_writer(shard))
        versions = library_versions("numpy", "faiss-cpu", "faiss-gpu")
        versions["faiss"] = str(getattr(faiss, "__version__", "unknown"))
        manifest = IndexManifest(
            index=MANIFEST_INDEX,
            dimension=self.dimension,
            metric=self.config.metric,
            count=len(self),
            encoder=encoder_config,
            params={"name": self.name, "config": self.config.to_dict(), "shards_saved": len(self._shards)},
            library_versions=versions,
        )
        save_generation(path, writers, manifest)
        return path

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        encoder_config: Mapping[str, Any] | None = None,
        dimension: int | None = None,
        device: str | None = None,
    ) -> FaissIndex:
        """Read an index written by :meth:`save`.

        Args:
            path: the directory given to :meth:`save`.
            encoder_config: when given, must equal the saved encoder configuration.
            dimension: when given, must equal the saved dimension.
            device: overrides the saved ``device`` (e.g. ``"cpu"`` for an index saved on a GPU machine).

        Raises:
            IncompatibleFileError: other encoder configuration, dimension or index type.
            CorruptFileError: a missing, truncated or damaged file (checksums, FAISS reader, shapes).
        """
        faiss = fb.import_faiss()
        path = Path(path)
        manifest = IndexManifest.read(path, index=MANIFEST_INDEX, encoder_config=encoder_config, dimension=dimension)
        try:
            params = dict(manifest.params)
            saved = dict(params["config"])
            n_shards = int(params["shards_saved"])
            name = str(params["name"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(f"{path}: manifest params lack the FAISS layout ({exc})") from exc
        if saved.get("metric") != manifest.metric:
            raise CorruptFileError(f"{path}: manifest metric {manifest.metric!r} differs from its FAISS configuration")
        if device is not None:
            saved["device"] = device
        try:
            index = cls(manifest.dimension, name=name, **saved)
        except (TypeError, ConfigError) as exc:
            raise IncompatibleFileError(f"{path}: saved FAISS configuration cannot be rebuilt here ({exc})") from exc
        ids_file = file_of(manifest, path, "ids", "ids.npz")
        try:
            with np.load(ids_file, allow_pickle=False) as data:
                labels, ids, next_label = data["labels"], data["ids"], int(data["next_label"])
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(f"{ids_file}: cannot be read ({exc})") from exc
        shards = []
        expected = fb.describe(fb.build_index(index.config.resolved(max(1, manifest.count)), manifest.dimension))
        for i in range(n_shards):
            shard_file = file_of(manifest, path, f"shard{i}", f"missing-shard{i}")
            try:
                shards.append(faiss.read_index(str(shard_file)))
            except RuntimeError as exc:
                raise CorruptFileError(f"{shard_file}: FAISS cannot read it ({fb.faiss_message(exc)})") from exc
            check_loaded(shard_file, expected, fb.describe(shards[-1]))
        stored = sum(int(shard.ntotal) for shard in shards)
        if labels.shape != (manifest.count,) or ids.shape != (manifest.count,) or stored != manifest.count:
            raise CorruptFileError(
                f"{path}: manifest counts {manifest.count} vectors, ids file has {ids.shape[0]}, FAISS files {stored}"
            )
        if shards:
            index._install(shards)
        index._labels, index._ids, index._next_label = labels.astype(np.int64), ids, next_label
        return index


def _faiss_bytes(index: Any) -> int:
    """Codes of the stored vectors (``ntotal x code_size``) plus IVF centroids and HNSW links of ``index``;
    a type without ``code_size`` (e.g. a GPU flat index) counts float32 vectors."""
    faiss = fb.import_faiss()
    inner = innermost(index)
    if isinstance(inner, faiss.IndexHNSW):
        return _faiss_bytes(inner.storage) + 4 * int(inner.hnsw.neighbors.size())
    code_size = int(getattr(inner, "code_size", 4 * int(inner.d)))  # a FAISS object's field, not a contract
    total = int(inner.ntotal) * code_size
    if isinstance(inner, faiss.IndexIVF):
        total += _faiss_bytes(inner.quantizer)
    return total


# ---------------------------------------------------------------------------------------------------- registry


def _faiss(**config: Any) -> FaissIndex:
    return FaissIndex(**{"name": "faiss", **config})


def _named(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the component name; a preset component refuses a ``factory`` of its own."""
    if "factory" in config:
        raise ConfigError(f"{name!r} chooses its FAISS factory itself; use component 'faiss' with factory=...")
    return {"name": name, **config}


def _faiss_flat(**config: Any) -> FaissIndex:
    return FaissIndex(**_named("faiss-flat", config), factory="Flat")


def _faiss_hnsw(m: int = 32, ef_search: int = 64, ef_construction: int = 40, **config: Any) -> FaissIndex:
    return FaissIndex(
        **_named("faiss-hnsw", config),
        factory=f"HNSW{int(m)}",
        ef_search=ef_search,
        ef_construction=ef_construction,
    )


def _faiss_ivf_flat(nlist: int | None = None, nprobe: int = 16, **config: Any) -> FaissIndex:
    lists = NLIST_PLACEHOLDER if nlist is None else int(nlist)
    return FaissIndex(**_named("faiss-ivf-flat", config), factory=f"IVF{lists},Flat", nprobe=nprobe)


def _faiss_ivf_pq(nlist: int | None = None, m: int = 16, bits: int = 8, nprobe: int = 16, **config: Any) -> FaissIndex:
    dimension = config.get("dimension")
    if dimension is not None and int(dimension) % int(m):
        raise ConfigError(f"faiss-ivf-pq: dimension {dimension} is not divisible by m={m} sub-quantizers")
    lists = NLIST_PLACEHOLDER if nlist is None else int(nlist)
    return FaissIndex(**_named("faiss-ivf-pq", config), factory=f"IVF{lists},PQ{int(m)}x{int(bits)}np", nprobe=nprobe)


#: Options every FAISS component takes; the presets add their own and drop ``factory``.
COMMON_OPTIONS = frozenset({"dimension", "metric", "shards", "device", "train_size", "seed"})


def faiss_index_specs() -> list[RetrievalIndexSpec]:
    """The FAISS index components; every factory takes ``dimension`` and ``metric`` (ip, l2, cosine)."""
    # what each builds with default options on a CPU (an instance's own capabilities also reflect its device)
    flat = IndexCapabilities(exact=True, supports_removal=True, supports_gpu=True, input="dense")
    trained = IndexCapabilities(supports_removal=True, supports_gpu=True, input="dense")
    ivf = {"nlist", "nprobe"}
    table = [
        (
            "faiss",
            _faiss,
            "any FAISS index_factory string (factory='IVF1024,PQ16x8'; default Flat), shards=, device=",
            flat,
            {"factory", "nprobe", "ef_search", "ef_construction"},
        ),
        ("faiss-flat", _faiss_flat, "FAISS exact search (Flat)", flat, set()),
        (
            "faiss-hnsw",
            _faiss_hnsw,
            "FAISS HNSW graph (m=32, ef_search=64, ef_construction=40); CPU only",
            IndexCapabilities(input="dense"),
            {"m", "ef_search", "ef_construction"},
        ),
        ("faiss-ivf-flat", _faiss_ivf_flat, "FAISS IVF, exact vectors (nlist=auto ≈ 4·√N, nprobe=16)", trained, ivf),
        (
            "faiss-ivf-pq",
            _faiss_ivf_pq,
            "FAISS IVF + product quantization (nlist=auto, m=16, 8 bits, nprobe=16)",
            trained,
            ivf | {"m", "bits"},
        ),
    ]
    return [
        RetrievalIndexSpec(name, factory=f, description=text, capabilities=caps, options=COMMON_OPTIONS | own)
        for name, f, text, caps, own in table
    ]
