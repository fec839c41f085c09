"""Configuration of a FAISS index: the factory string, metric, search parameters, shards and device.

Imports nothing heavy: the configuration is checked before faiss is imported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from recplug.checks import check_int, check_optional_int
from recplug.errors import ConfigError

from recplug_eval.indexes.faiss_support import check_search_parameters

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
        check_optional_int(self.train_size, "train_size", low=1)
        check_int(self.shards, "shards", low=1)
        check_int(self.seed, "seed")
        check_search_parameters(self.factory, self.nprobe, self.ef_search, self.ef_construction)

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
