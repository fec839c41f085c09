"""FAISS helpers shared by every component that keeps a FAISS index (``recplug-eval``'s FAISS indexes,
``recplug-muvera``'s FDE candidates): one path for building, training, search parameters and checking a
loaded file, so the same mistake gets the same clean error everywhere.

faiss is imported inside these functions only, never when this module is imported. Plugins reach these
through ``recplug_eval``'s public API (``from recplug_eval import train_faiss_index``...).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from recplug.errors import ConfigError, InvalidInputError


def import_faiss() -> ModuleType:
    """The ``faiss`` module, or an ImportError saying what to install."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - a dependency of every caller
        raise ImportError("FAISS is needed: pip install faiss-cpu (or faiss-gpu on a CUDA machine)") from exc
    return faiss


def faiss_message(exc: BaseException) -> str:
    """The useful last part of a FAISS C++ error message."""
    text = str(exc).strip()
    return text.split(": ", 1)[-1] if text.startswith("Error in") else text


def innermost(index: Any) -> Any:
    """The index under ``IndexPreTransform`` / ``IndexIDMap`` wrappers, downcast to its real class.

    The result does not own its C++ object: use it only while ``index`` is alive."""
    faiss = import_faiss()
    index = faiss.downcast_index(index)
    while isinstance(index, (faiss.IndexPreTransform, faiss.IndexIDMap, faiss.IndexIDMap2)):
        index = faiss.downcast_index(index.index)
    return index


def check_search_parameters(factory: str, nprobe: Any, ef_search: Any, ef_construction: Any = None) -> None:
    """``nprobe`` only for IVF factories, ``ef_search`` / ``ef_construction`` only for HNSW ones, each a
    positive integer or None.

    Raises:
        ConfigError: naming the parameter and the factory.
    """
    for name, value in (("nprobe", nprobe), ("ef_search", ef_search), ("ef_construction", ef_construction)):
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0):
            raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")
    if nprobe is not None and "IVF" not in factory:
        raise ConfigError(f"nprobe applies to IVF indexes only; factory {factory!r} has no inverted lists")
    if (ef_search is not None or ef_construction is not None) and "HNSW" not in factory:
        raise ConfigError(f"ef_search/ef_construction apply to HNSW indexes only, not factory {factory!r}")


def describe(index: Any) -> dict[str, Any]:
    """What a FAISS index is, to compare a loaded file with its manifest: the class under any wrappers,
    the metric name (``"ip"`` or ``"l2"``) and the dimension."""
    faiss = import_faiss()
    metric = {faiss.METRIC_INNER_PRODUCT: "ip", faiss.METRIC_L2: "l2"}.get(index.metric_type, str(index.metric_type))
    kind = type(innermost(index)).__name__
    kind = "IndexFlat" if kind in ("IndexFlatIP", "IndexFlatL2") else kind  # the reader's names for a Flat index
    return {"type": kind, "metric": metric, "dimension": int(index.d)}


def min_training_vectors(index: Any) -> int:
    """Fewest vectors FAISS accepts to train ``index``: the IVF list count and the PQ centroid count
    (``2 ** bits``), whichever is larger; 1 when neither applies."""
    faiss = import_faiss()
    inner = innermost(index)
    needed = 1
    if isinstance(inner, faiss.IndexIVF):
        needed = max(needed, int(inner.nlist))
    pq = getattr(inner, "pq", None)
    if pq is not None:
        needed = max(needed, int(pq.ksub))
    return needed


def train_index(index: Any, vectors: np.ndarray, factory: str) -> None:
    """Train ``index`` on ``vectors`` (N x D float32).

    Raises:
        InvalidInputError: fewer vectors than the index needs (names the factory and both counts).
    """
    needed = min_training_vectors(index)
    if vectors.shape[0] < needed:
        raise InvalidInputError(
            f"factory {factory!r} must be trained on at least {needed} vectors, got {vectors.shape[0]}; "
            "add more vectors in the first call to add() or train() first, or choose fewer lists/centroids"
        )
    try:
        index.train(vectors)
    except RuntimeError as exc:
        raise InvalidInputError(f"training factory {factory!r} failed: {faiss_message(exc)}") from exc
