"""On-disk cache of encodings, keyed by encoder configuration + role + a checksum of the texts.

Files live in ``<cache dir>/encodings/<key>.npz`` (written atomically, read with ``allow_pickle=False``)
with a ``<key>.json`` note saying what they hold. Dense (float32 ``N x D``), sparse (scipy CSR ``N x V``)
and multi-vector (:class:`recplug.multivector.MultiVectorBatch`) outputs are supported. A damaged cache
file is logged and recomputed.

:class:`CachedEncoder` wraps any :class:`recplug.protocols.RetrievalEncoder` so that the runner never
re-encodes the same corpus twice. Encoders that keep their own document cache say so with a class attribute
``caches_documents = True`` (see :func:`caches_own_documents`) and are not wrapped, so nothing is stored twice.

:class:`TokenEmbeddingCache` holds a model's forward pass (unnormalised token embeddings) once, for every
encoder derived from it (dense MiniLM, ``"minilm-tokens"``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from recplug.fileio import atomic_write_json, atomic_writer

log = logging.getLogger(__name__)


def texts_checksum(texts: Sequence[str]) -> str:
    """SHA-256 over the texts (order matters)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def cache_key(encoder_config: Mapping[str, Any], role: str, texts: Sequence[str]) -> str:
    """Key of one encoding: encoder config (canonical JSON), ``role`` and the texts' checksum."""
    blob = json.dumps({"encoder": encoder_config, "role": role, "texts": texts_checksum(texts)}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def caches_own_documents(encoder: Any) -> bool:
    """Whether ``encoder`` declares (``caches_documents = True``) that it caches its document encodings
    itself, so a :class:`CachedEncoder` around it would only store them a second time."""
    return bool(getattr(type(encoder), "caches_documents", False))


def _pack(value: Any) -> dict[str, np.ndarray]:
    from recplug.multivector import MultiVectorBatch

    if isinstance(value, np.ndarray):
        return {"kind": np.array("dense"), "dense": value}
    if isinstance(value, MultiVectorBatch):
        return {"kind": np.array("multivector"), "values": value.values, "offsets": value.offsets}
    if hasattr(value, "tocsr"):
        csr = value.tocsr()
        return {
            "kind": np.array("sparse"),
            "data": csr.data,
            "indices": csr.indices,
            "indptr": csr.indptr,
            "shape": np.asarray(csr.shape, np.int64),
        }
    raise TypeError(f"cannot cache an encoding of type {type(value).__name__}")


def _unpack(data: Mapping[str, np.ndarray]) -> Any:
    kind = str(data["kind"])
    if kind == "dense":
        return data["dense"]
    if kind == "multivector":
        from recplug.multivector import MultiVectorBatch

        return MultiVectorBatch(data["values"], data["offsets"])
    if kind == "sparse":
        import scipy.sparse as sp

        return sp.csr_matrix((data["data"], data["indices"], data["indptr"]), shape=tuple(data["shape"]))
    raise ValueError(f"unknown encoding kind {kind!r}")


def _rows(value: Any) -> int:
    return len(value) if not hasattr(value, "shape") else int(value.shape[0])


class EmbeddingCache:
    """Encodings on disk under ``root`` (default: :func:`recplug_eval.paths.cache_dir` ``/ "encodings"``)."""

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from recplug_eval.paths import cache_dir

            root = cache_dir() / "encodings"
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def get_or_compute(
        self, encoder_config: Mapping[str, Any], role: str, texts: Sequence[str], compute: Callable[[], Any]
    ) -> Any:
        """The cached encoding of ``texts``, or ``compute()`` stored for next time."""
        key = cache_key(encoder_config, role, texts)
        path = self.root / f"{key}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as data:
                    value = _unpack({name: data[name] for name in data.files})
                if _rows(value) == len(texts):
                    self.hits += 1
                    return value
                log.warning("cache file %s has %d rows, expected %d; recomputing", path, _rows(value), len(texts))
            except Exception as exc:
                log.warning("cache file %s cannot be read (%s); recomputing", path, exc)
        self.misses += 1
        value = compute()
        arrays: dict[str, Any] = _pack(value)  # array names only (never savez's allow_pickle keyword)
        with atomic_writer(path) as handle:
            np.savez(handle, **arrays)
        atomic_write_json(
            self.root / f"{key}.json", {"encoder": dict(encoder_config), "role": role, "count": len(texts)}
        )
        return value


class CachedEncoder:
    """A :class:`recplug.protocols.RetrievalEncoder` that caches ``encoder``'s outputs in ``cache``."""

    def __init__(self, encoder: Any, cache: EmbeddingCache) -> None:
        self.encoder = encoder
        self.cache = cache
        self.name = encoder.name
        self.output = encoder.output
        self.dimension = encoder.dimension

    def config(self) -> dict[str, Any]:
        return self.encoder.config()

    def encode_queries(self, texts: Sequence[str]) -> Any:
        texts = list(texts)
        return self.cache.get_or_compute(self.config(), "queries", texts, lambda: self.encoder.encode_queries(texts))

    def encode_documents(self, texts: Sequence[str]) -> Any:
        texts = list(texts)
        return self.cache.get_or_compute(
            self.config(), "documents", texts, lambda: self.encoder.encode_documents(texts)
        )


class TokenEmbeddingCache:
    """One model's forward pass over a list of texts, stored once: the unnormalised per-token embeddings
    (float16 ``T x D`` values + ``N + 1`` offsets, a :class:`recplug.multivector.MultiVectorBatch`).

    Every encoder built on the same model derives its output from this one pass (dense MiniLM: mean pool
    + L2; ``"minilm-tokens"``: per-token L2; see :mod:`recplug_eval.sentence_encoder`), so a corpus is run
    through the model once, whichever of them asks first. Entries are keyed by the model's description
    (name, max sequence length) and a SHA-256 of the texts: ``<root>/<key>.values.npy``, ``<key>.offsets.npy``
    (each written atomically) and ``<key>.json`` (written last; an entry without it is not read). Values are
    memory-mapped on read (``np.load(mmap_mode="r")``); a damaged entry is logged and recomputed.

    Args:
        root: the folder (default: :func:`recplug_eval.paths.cache_dir` ``/ "token-embeddings"``).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from recplug_eval.paths import cache_dir

            root = cache_dir() / "token-embeddings"
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        return self.root / f"{key}.values.npy", self.root / f"{key}.offsets.npy", self.root / f"{key}.json"

    def read(self, key: str, count: int) -> Any:
        """The entry ``key`` (values memory-mapped), or None when it is missing, incomplete or damaged."""
        from recplug.multivector import MultiVectorBatch

        values_path, offsets_path, note_path = self._paths(key)
        if not note_path.exists():
            return None
        try:
            note = json.loads(note_path.read_text(encoding="utf-8"))
            values = np.load(values_path, mmap_mode="r", allow_pickle=False)
            offsets = np.load(offsets_path, allow_pickle=False)
            if (offsets.shape != (count + 1,) or values.ndim != 2 or values.dtype != np.float16
                    or values.shape[0] != int(offsets[-1]) or list(values.shape) != note.get("shape")):
                raise ValueError(f"shapes {values.shape} / {offsets.shape} do not match {count} texts and {note_path.name}")
            return MultiVectorBatch(values, offsets)
        except Exception as exc:
            log.warning("token-embedding cache entry %s cannot be read (%s); recomputing", note_path, exc)
            return None

    def write(self, key: str, batch: Any, model: Mapping[str, Any]) -> None:
        """Store ``batch`` (float16 values) as entry ``key``: the arrays first, the note last."""
        values_path, offsets_path, note_path = self._paths(key)
        for path, array in ((values_path, np.asarray(batch.values, np.float16)), (offsets_path, batch.offsets)):
            with atomic_writer(path) as handle:
                np.save(handle, array, allow_pickle=False)
        atomic_write_json(note_path, {"model": dict(model), "count": len(batch), "shape": list(batch.values.shape)})

    def get_or_compute(self, model: Mapping[str, Any], texts: Sequence[str], compute: Callable[[], Any]) -> Any:
        """The token embeddings of ``texts`` by ``model`` (its JSON-able description), from the cache or
        ``compute()`` (a float16 MultiVectorBatch) stored for next time; cached values come memory-mapped."""
        key = cache_key(model, "token-embeddings", texts)
        found = self.read(key, len(texts))
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        batch = compute()
        self.write(key, batch, model)
        return self.read(key, len(texts)) or batch
