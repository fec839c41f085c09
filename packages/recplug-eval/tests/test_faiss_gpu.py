"""FAISS indexes on a GPU (faiss-gpu): same answers as on the CPU, saved files readable on a CPU machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from recplug_eval.indexes.ann_quality import gaussian_mixture, neighbour_recall
from recplug_eval.indexes.faiss_index import FaissIndex

pytestmark = pytest.mark.gpu
D = 32


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = gaussian_mixture(5_050, D, clusters=50, seed=1)
    return x[:5_000], np.array([f"g{i}" for i in range(5_000)]), x[5_000:]


@pytest.mark.parametrize(("metric", "shards"), [("ip", 1), ("l2", 1), ("cosine", 2)])
def test_gpu_flat_equals_cpu_flat(data, metric: str, shards: int) -> None:
    docs, ids, queries = data
    cpu = FaissIndex(D, "Flat", metric, device="cpu")
    gpu = FaissIndex(D, "Flat", metric, device="gpu", shards=shards)
    assert gpu.on_gpu and gpu.capabilities.supports_gpu and not gpu.capabilities.supports_removal
    for index in (cpu, gpu):
        index.add(docs, ids)
    a, b = cpu.search(queries, 10), gpu.search(queries, 10)
    assert neighbour_recall(b.ids, a.ids) > 0.99
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-3, atol=1e-3)


def test_gpu_ivf_trains_and_honours_nprobe(data) -> None:
    docs, ids, queries = data
    exact = FaissIndex(D, "Flat", "l2", device="cpu")
    exact.add(docs, ids)
    want = exact.search(queries, 10).ids
    gpu = FaissIndex(D, "IVF64,Flat", "l2", nprobe=1, device="gpu")
    gpu.add(docs, ids)
    low = neighbour_recall(gpu.search(queries, 10).ids, want)
    gpu.set_search_parameters(nprobe=64)
    assert neighbour_recall(gpu.search(queries, 10).ids, want) > max(low, 0.99)


def test_index_saved_on_gpu_loads_on_cpu(data, tmp_path: Path) -> None:
    docs, ids, queries = data
    gpu = FaissIndex(D, "IVF16,PQ8x8np", "ip", nprobe=16, device="gpu")
    gpu.add(docs, ids)
    gpu.save(tmp_path / "idx", encoder_config={"e": 1})
    cpu = FaissIndex.load(tmp_path / "idx", encoder_config={"e": 1}, device="cpu")
    assert not cpu.on_gpu and len(cpu) == 5_000
    assert neighbour_recall(cpu.search(queries, 10).ids, gpu.search(queries, 10).ids) > 0.9
