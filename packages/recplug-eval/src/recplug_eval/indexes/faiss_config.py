"""Configuration of a FAISS index: the factory string, metric, search parameters, shards and device.

Imports nothing heavy: the configuration is checked before faiss is imported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from recplug.errors import ConfigError

METRICS = ("ip", "l2", "cosine")
DEVICES = ("auto", "cpu", "gpu")
#: Placeholder in a factory string for an inverted-list count chosen from the training set size.
NLIST_PLACEHOLDER = "{nlist}"


def auto_nlist(n_train: int) -> int:
    """FAISS's rule of thumb for the number of inverted lists: about ``4 * sqrt(N)``, but at least 39
    training vectors per list (k-means quality) and at least one list."""
    return max(1, min(round(4 * math.sqrt(n_train)), n_train // 39))


@dataclass(frozen=True)
class FaissIndexConfig:
    """How to build and search a FAISS index.

    Attributes:
        factory: a FAISS ``index_factory`` string, e.g. ``"Flat"``, ``"HNSW32"``, ``"IVF1024,Flat"``,
            ``"IVF1024,PQ16x8"``, ``"PQ16"``. ``"{nlist}"`` in it (``"IVF{nlist},Flat"``) is replaced at
            training time by :func:`auto_nlist` of the training set size.
        metric: ``"ip"`` (inner product), ``"cosine"`` (inner product of L2-normalised rows) or ``"l2"``
            (scores are negated squared distances, as in the core's exact index).
        nprobe: inverted lists visited per query (IVF indexes only).
        ef_search: HNSW candidate list size at search time (HNSW indexes only).
        ef_construction: HNSW candidate list size while building (HNSW indexes only).
        shards: number of FAISS indexes the vectors are split over, searched as one (``IndexShards``).
        device: ``"auto"`` (a GPU when ``faiss.get_num_gpus() > 0`` and the index type runs there),
            ``"cpu"`` or ``"gpu"`` (an error when no GPU can be used).
        train_size: most vectors used for training (a seeded random sample of the first ``add``);
            ``None`` trains on all of them.
        seed: seed of the training sample and of FAISS's k-means.
    """

    factory: str = "Flat"
    metric: str = "ip"
    nprobe: int | None = None
    ef_search: int | None = None
    ef_construction: int | None = None
    shards: int = 1
    device: str = "auto"
    train_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.factory, str) or not self.factory.strip():
            raise ConfigError(f"factory must be a non-empty FAISS index_factory string, got {self.factory!r}")
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}")
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        for field_name in ("nprobe", "ef_search", "ef_construction", "train_size"):
            value = getattr(self, field_name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ConfigError(f"{field_name} must be a positive integer or None, got {value!r}")
        if not isinstance(self.shards, int) or isinstance(self.shards, bool) or self.shards <= 0:
            raise ConfigError(f"shards must be a positive integer, got {self.shards!r}")
        if self.nprobe is not None and "IVF" not in self.factory:
            raise ConfigError(f"nprobe applies to IVF indexes only; factory {self.factory!r} has no inverted lists")
        if (self.ef_search is not None or self.ef_construction is not None) and "HNSW" not in self.factory:
            raise ConfigError(f"ef_search/ef_construction apply to HNSW indexes only, not factory {self.factory!r}")

    @property
    def is_exact(self) -> bool:
        """Whether the factory is brute force (results equal exact search up to float rounding)."""
        return self.factory.replace(" ", "") in ("Flat", "IDMap,Flat", "IDMap2,Flat")

    def resolved(self, n_train: int) -> FaissIndexConfig:
        """This configuration with ``{nlist}`` replaced for a training set of ``n_train`` vectors."""
        if NLIST_PLACEHOLDER not in self.factory:
            return self
        return replace(self, factory=self.factory.replace(NLIST_PLACEHOLDER, str(auto_nlist(n_train))))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (stored in the index manifest)."""
        return asdict(self)
