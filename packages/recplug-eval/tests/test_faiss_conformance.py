"""The core's index conformance kit, run against every registered FAISS index component."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from recplug.manager import load_plugin_manager
from recplug.testing import IndexConformance
from recplug.testing.index_kit import unit_rows
from recplug_eval.indexes.faiss_backend import faiss_threads
from recplug_eval.indexes.faiss_index import FaissIndex

D = 16


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    with faiss_threads(1):
        yield


@pytest.fixture(scope="module")
def manager() -> Any:
    return load_plugin_manager()


class TestFaissFlatIP(IndexConformance):
    @pytest.fixture
    def make_index(self, manager: Any) -> Any:
        return lambda: manager.create("retrieval_index", "faiss-flat", dimension=D, metric="ip")


class TestFaissFlatL2Sharded(IndexConformance):
    @pytest.fixture
    def make_index(self) -> Any:
        return lambda: FaissIndex(D, "Flat", "l2", shards=3)


class TestFaissFlatIntIds(IndexConformance):
    @pytest.fixture
    def make_index(self) -> Any:
        return lambda: FaissIndex(D, "Flat", "cosine")

    @pytest.fixture
    def index_documents(self) -> tuple[Any, np.ndarray]:
        return unit_rows(64, D), np.arange(1000, 1064)


class TestFaissHNSWCosine(IndexConformance):
    @pytest.fixture
    def make_index(self, manager: Any) -> Any:
        return lambda: manager.create("retrieval_index", "faiss-hnsw", dimension=D, metric="cosine", m=16)


class TestFaissIVFFlat(IndexConformance):
    """Trains on the first add; nprobe equal to the list count makes it exact on top-1."""

    @pytest.fixture
    def make_index(self, manager: Any) -> Any:
        return lambda: manager.create("retrieval_index", "faiss-ivf-flat", dimension=D, metric="l2", nlist=4, nprobe=4)


class TestFaissIVFPQShardedGeneric(IndexConformance):
    """A quantised, sharded index through the generic "faiss" component: approximate top-1."""

    @pytest.fixture
    def make_index(self, manager: Any) -> Any:
        return lambda: manager.create(
            "retrieval_index", "faiss", dimension=D, factory="IVF4,PQ4x4np", nprobe=4, metric="ip", shards=2
        )

    @pytest.fixture
    def index_queries(self, index_documents: tuple[Any, np.ndarray]) -> tuple[Any, Any]:
        return index_documents[0][:5], None
