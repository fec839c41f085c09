"""Baselines: BM25 reproduces the SciFact number; MiniLM passes the encoder kit, caches, retrieves well."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from recplug import load_plugin_manager
from recplug.errors import ConfigError
from recplug.testing import EncoderConformance
from recplug_eval.embedding_cache import CachedEncoder, EmbeddingCache
from recplug_eval.retrievers import Bm25Retriever
from recplug_eval.runner import EvalConfig, SystemConfig, run_evaluation


def test_bm25_reproduces_scifact_test() -> None:
    """bm25s, title + text, English stopwords, Snowball stemmer, Lucene BM25 k1=1.5 b=0.75 (full SciFact)."""
    report = run_evaluation(EvalConfig(dataset="scifact", split="test"), [SystemConfig.bm25()], progress=False)
    (bm25,) = report.systems
    assert bm25.num_queries == 300 and bm25.num_documents == 5183
    assert bm25.metrics["nDCG@10"] == pytest.approx(0.686, abs=0.002)
    assert bm25.metrics["R@100"] == pytest.approx(0.913, abs=0.002)
    assert bm25.run["query_id"].n_unique() == 300
    assert bm25.memory_bytes and bm25.memory_bytes > 0


def test_bm25_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown method"):
        Bm25Retriever(method="bm99")
    with pytest.raises(ConfigError, match="k1"):
        Bm25Retriever(b=2.0)
    with pytest.raises(ConfigError, match="unexpected keyword"):
        Bm25Retriever(k3=1.0)


def test_bm25_pads_when_k_exceeds_corpus() -> None:
    bm25 = Bm25Retriever()
    bm25.index_corpus(["a", "b"], ["protein folding", "heart attack risk"])
    result = bm25.retrieve(["protein"], 5)
    assert result.ids.shape == (1, 5) and result.ids[0, 0] == "a"
    assert list(result.ids[0, 2:]) == ["", "", ""] and np.isneginf(result.scores[0, 2:]).all()


class TestMiniLMConformance(EncoderConformance):
    @pytest.fixture
    def encoder(self, minilm):
        return minilm


def test_minilm_is_normalised_and_offline(minilm) -> None:
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    vectors = minilm.encode_documents(["Aspirin and heart attacks.", "Protein folding at 37 C."])
    assert vectors.shape == (2, 384) and minilm.dimension == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    from recplug_eval import precision_key

    assert minilm.config() == {
        "encoder": "minilm",
        "model": "all-MiniLM-L6-v2",
        "normalize": True,
        "max_seq_length": 256,
        "dimension": 384,
        **precision_key(minilm.bf16),  # {"compute": "bfloat16"} where the CPU runs bfloat16 natively
    }


def test_encoding_cache_is_keyed_by_config_and_texts(minilm, tmp_path: Path) -> None:
    calls: list[int] = []

    class Counting:
        name, output, dimension = minilm.name, minilm.output, minilm.dimension

        def config(self):
            return minilm.config()

        def encode_documents(self, texts):
            calls.append(len(texts))
            return minilm.encode_documents(texts)

        encode_queries = encode_documents

    cache = EmbeddingCache(tmp_path)
    cached = CachedEncoder(Counting(), cache)
    first = cached.encode_documents(["one text", "two texts"])
    second = cached.encode_documents(["one text", "two texts"])
    np.testing.assert_array_equal(first, second)
    assert calls == [2] and (cache.hits, cache.misses) == (1, 1)
    cached.encode_documents(["one text", "other"])  # other data -> other key
    cached.encode_queries(["one text", "two texts"])  # other role -> other key
    assert calls == [2, 2, 2]
    # a damaged cache file is recomputed, not trusted
    for path in tmp_path.glob("*.npz"):
        path.write_bytes(b"garbage")
    np.testing.assert_array_equal(cached.encode_documents(["one text", "two texts"]), first)
    assert calls == [2, 2, 2, 2]


def test_dense_minilm_on_slice(scifact_slice: Path, encodings_cache: Path) -> None:
    """MiniLM + the default dense index on the 200-doc slice; the index agrees with NumPy brute force."""
    config = EvalConfig(dataset="beir", dataset_config={"path": str(scifact_slice)}, cache_dir=encodings_cache)
    report = run_evaluation(config, [SystemConfig(name="minilm", encoder="minilm")], progress=False)
    (dense,) = report.systems
    assert dense.config["index"] in ("faiss-flat", "exact")
    assert dense.metrics["nDCG@10"] > 0.7  # 200 docs, 30 queries: an easy slice
    assert dense.memory_bytes == 200 * 384 * 4

    pm = load_plugin_manager()
    data = pm.create("dataset", "beir", path=scifact_slice)
    from recplug_eval.datasets.beir import document_texts

    cache = EmbeddingCache(encodings_cache / "encodings")
    docs = cache.get_or_compute(
        dense.config["encoder_config"], "documents", document_texts(data.corpus()), lambda: pytest.fail("not cached")
    )
    first_query = data.split_queries("test")["text"][0]
    query = pm.create("retrieval_encoder", "minilm").encode_queries([first_query])
    expected = data.corpus()["doc_id"].to_numpy()[np.argsort(-(docs @ query[0]), kind="stable")[:10]]
    got = dense.run.filter(dense.run["query_id"] == data.split_queries("test")["query_id"][0])["doc_id"][:10]
    assert list(got) == list(expected)
