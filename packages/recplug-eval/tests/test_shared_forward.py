"""One MiniLM forward pass, cached once (TokenEmbeddingCache), and the dense vectors derived from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from recplug.multivector import MultiVectorBatch
from recplug_eval import embedding_cache
from recplug_eval.embedding_cache import TokenEmbeddingCache, caches_own_documents
from recplug_eval.sentence_encoder import mean_pooled, normalised_tokens

MODEL = {"model": "fake", "max_seq_length": 8, "output": "token_embeddings", "dtype": "float16"}


def batch(seed: int = 0, lengths: tuple[int, ...] = (3, 5, 2)) -> MultiVectorBatch:
    rng = np.random.default_rng(seed)
    return MultiVectorBatch.from_sets([rng.normal(size=(n, 6)).astype(np.float16) for n in lengths], dtype=np.float16)


def test_cache_stores_once_and_reads_memory_mapped(tmp_path: Path) -> None:
    cache, texts, calls = TokenEmbeddingCache(tmp_path), ["a", "b", "c"], []
    first = cache.get_or_compute(MODEL, texts, lambda: calls.append(1) or batch())
    second = TokenEmbeddingCache(tmp_path).get_or_compute(MODEL, texts, lambda: calls.append(1) or batch(1))
    assert calls == [1]
    assert isinstance(second.values, np.memmap) and second.values.dtype == np.float16
    np.testing.assert_array_equal(first.values, batch().values)
    np.testing.assert_array_equal(second.values, batch().values)
    np.testing.assert_array_equal(second.offsets, batch().offsets)
    assert sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir()) == ["json", "offsets.npy", "values.npy"]
    # another model or other texts: another entry
    TokenEmbeddingCache(tmp_path).get_or_compute({**MODEL, "max_seq_length": 9}, texts, lambda: calls.append(1) or batch())
    TokenEmbeddingCache(tmp_path).get_or_compute(MODEL, ["a", "b", "d"], lambda: calls.append(1) or batch())
    assert calls == [1, 1, 1]


def test_an_entry_without_its_note_or_damaged_is_recomputed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    texts = ["a", "b", "c"]
    TokenEmbeddingCache(tmp_path).get_or_compute(MODEL, texts, batch)
    (values,) = tmp_path.glob("*.values.npy")
    values.write_bytes(values.read_bytes()[:50])  # a torn file
    again = TokenEmbeddingCache(tmp_path).get_or_compute(MODEL, texts, lambda: batch(2))
    assert "cannot be read" in caplog.text
    np.testing.assert_array_equal(again.values, batch(2).values)
    (note,) = tmp_path.glob("*.json")
    note.unlink()  # a write killed before the note: not an entry
    cache = TokenEmbeddingCache(tmp_path)
    cache.get_or_compute(MODEL, texts, lambda: batch(3))
    assert cache.misses == 1


def test_derived_dense_and_tokens() -> None:
    tokens = batch(4, (4, 1, 7))
    values = tokens.values.astype(np.float32)
    dense = mean_pooled(tokens)
    for i, (a, b) in enumerate(zip(tokens.offsets[:-1], tokens.offsets[1:], strict=True)):
        mean = values[a:b].mean(axis=0)
        np.testing.assert_allclose(dense[i], mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean_pooled(tokens, normalize=False)[1], values[4], rtol=1e-6)
    unit = normalised_tokens(tokens)
    assert unit.values.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(unit.values.astype(np.float32), axis=1), 1.0, atol=2e-3)


def test_derivation_runs_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from recplug_eval import sentence_encoder

    tokens = batch(5, (4, 1, 7, 3, 3))
    whole, unit = mean_pooled(tokens), normalised_tokens(tokens).values
    monkeypatch.setattr(sentence_encoder, "DERIVE_ROWS", 3)
    np.testing.assert_allclose(mean_pooled(tokens), whole, rtol=1e-6)
    np.testing.assert_array_equal(normalised_tokens(tokens).values, unit)


def test_self_caching_encoders_are_not_wrapped() -> None:
    from recplug_eval.retrievers import _document_encoder

    class Caches:
        caches_documents = True

    class Plain:
        pass

    assert caches_own_documents(Caches()) and not caches_own_documents(Plain())
    cache = embedding_cache.EmbeddingCache("unused")
    assert isinstance(_document_encoder(Caches(), cache), Caches)


def test_minilm_documents_come_from_one_shared_pass(tmp_path: Path) -> None:
    """Real MiniLM: the derived dense vectors match sentence-transformers' encode; a second encoder on the
    same model and texts reads the pass from the cache."""
    from recplug import load_plugin_manager
    from recplug_eval.sentence_encoder import SentenceTransformerEncoder

    texts = ["Aspirin reduces the risk of heart attack in some adults.", "Short.",
             "Vitamin D deficiency is associated with an increased risk of fractures " * 8]
    pm = load_plugin_manager()
    dense = pm.create("retrieval_encoder", "minilm", num_threads=2, cache_dir=str(tmp_path))
    derived = dense.encode_documents(texts)
    reference = dense._encode(texts, "documents")
    cosine = (derived * reference).sum(axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.9999, cosine
    other = SentenceTransformerEncoder(num_threads=2, cache_dir=str(tmp_path))
    other.model = None  # a cache hit needs no model
    np.testing.assert_array_equal(other.encode_documents(texts), derived)
    assert len(list(tmp_path.glob("*.json"))) == 1
    plain = pm.create("retrieval_encoder", "minilm", num_threads=2, cache_dir="")
    assert not list(Path(tmp_path).glob("other*"))
    np.testing.assert_allclose(plain.encode_documents(texts), reference, rtol=1e-5, atol=1e-6)


def test_bfloat16_pass_is_its_own_cache_entry_and_close_to_float32(tmp_path: Path) -> None:
    """Real MiniLM: the bfloat16-autocast pass (the default where the CPU runs bfloat16 natively) is cached under
    its own key, never mixed with the float32 one, and its vectors stay within bfloat16's rounding of float32's."""
    from recplug_eval.sentence_encoder import SentenceTransformerEncoder

    texts = ["Aspirin reduces the risk of heart attack in some adults.", "Short.",
             "Vitamin D deficiency is associated with an increased risk of fractures " * 8]
    full = SentenceTransformerEncoder(num_threads=2, cache_dir=str(tmp_path), bf16=False)
    half = SentenceTransformerEncoder(num_threads=2, cache_dir=str(tmp_path), bf16=True)
    assert "compute" not in full.config() and half.config()["compute"] == "bfloat16"
    a, b = full.encode_documents(texts), half.encode_documents(texts)
    assert len(list(tmp_path.glob("*.json"))) == 2
    assert not np.array_equal(a, b)
    assert (a * b).sum(axis=1).min() >= 0.999
    q = half.encode_queries(texts)
    assert q.dtype == np.float32 and (q * b).sum(axis=1).min() >= 0.9999


def test_bf16_is_decided_from_the_cpu_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from recplug.errors import ConfigError
    from recplug_eval import cpu_features
    from recplug_eval.sentence_encoder import SentenceEncoderConfig, model_description, use_bf16

    class OnCpu:
        device = "cpu"

    class OnGpu:
        device = "cuda:0"

    for native in (True, False):
        monkeypatch.setattr(cpu_features, "native_bf16", lambda native=native: native)
        assert use_bf16(OnCpu(), None) is native
        assert use_bf16(OnGpu(), None) is False
        assert use_bf16(OnCpu(), False) is False and use_bf16(OnGpu(), True) is True
    assert model_description("m", 8) == MODEL | {"model": "m"}
    assert model_description("m", 8, bf16=True)["compute"] == "bfloat16"
    with pytest.raises(ConfigError, match="bf16"):
        SentenceEncoderConfig(bf16="yes")  # type: ignore[arg-type]
