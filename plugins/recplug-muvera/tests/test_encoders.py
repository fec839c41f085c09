"""The "minilm-tokens" and "muvera" encoders: the core's EncoderConformance kit, caching, FDE config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from recplug.multivector import MultiVectorBatch
from recplug.testing import EncoderConformance
from recplug_muvera.encoder import MuveraEncoder
from recplug_muvera.index import MuveraChamferIndex
from recplug_muvera.token_encoder import TokenEmbeddingEncoder


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("muvera-token-cache")


@pytest.fixture(scope="module")
def tokens(cache_dir: Path) -> TokenEmbeddingEncoder:
    return TokenEmbeddingEncoder(cache_dir=str(cache_dir), num_threads=2, max_seq_length=64)


SMALL_FDE = {"num_repetitions": 4, "num_simhash_projections": 3, "projection_dimension": 8}


class TestTokenEncoder(EncoderConformance):
    @pytest.fixture
    def encoder(self, tokens: TokenEmbeddingEncoder) -> Any:
        return tokens


class TestMuveraEncoder(EncoderConformance):
    @pytest.fixture
    def encoder(self, tokens: TokenEmbeddingEncoder) -> Any:
        return MuveraEncoder(tokens=tokens, **SMALL_FDE)


def test_tokens_are_unit_float16_rows_with_cls_and_sep(tokens: TokenEmbeddingEncoder) -> None:
    batch = tokens.encode_documents(["Aspirin reduces the risk of heart attack.", "Short."])
    assert isinstance(batch, MultiVectorBatch) and batch.values.dtype == np.float16
    assert batch.dimension == 384 and len(batch) == 2
    assert batch.lengths[1] == 4  # [CLS] short . [SEP]
    np.testing.assert_allclose(np.linalg.norm(batch.values.astype(np.float32), axis=1), 1.0, atol=2e-3)


def test_cache_is_written_once_and_reused(tokens: TokenEmbeddingEncoder, cache_dir: Path) -> None:
    texts = ["A cache test sentence about vitamin D.", "Another one."]
    first = tokens.encode(texts)
    files = sorted(cache_dir.glob("*.npy"))
    assert files
    tokens.model = None  # a cache hit must not need the model (restored by _restore_model)
    second = tokens.encode(texts)
    np.testing.assert_array_equal(first.values, second.values)
    assert sorted(cache_dir.glob("*.npy")) == files


def test_tokens_and_dense_minilm_share_one_forward_pass(tokens: TokenEmbeddingEncoder, cache_dir: Path) -> None:
    """The dense "minilm" encoder reads the token encoder's cached pass (same model, same texts) and
    derives the sentence-transformers embedding from it; the queries' sets are the documents' ones."""
    from recplug_eval import SentenceTransformerEncoder

    texts = ["Shared pass: aspirin and heart attacks.", "Protein folding at 37 C."]
    sets = tokens.encode_documents(texts)
    np.testing.assert_allclose(tokens.encode_queries(texts).values.astype(np.float32),
                               sets.values.astype(np.float32), atol=2e-3)
    dense = SentenceTransformerEncoder(num_threads=2, max_seq_length=64, cache_dir=str(cache_dir))
    entries = sorted(cache_dir.glob("*.json"))
    model, dense.model = dense.model, None  # a cache hit: no forward pass
    derived = dense.encode_documents(texts)
    assert sorted(cache_dir.glob("*.json")) == entries
    expected = model.encode(texts, normalize_embeddings=True)
    assert ((derived * expected).sum(axis=1)).min() >= 0.9999


@pytest.fixture(autouse=True)
def _restore_model(tokens: TokenEmbeddingEncoder) -> Any:
    model = tokens.model
    yield
    tokens.model = model


def test_muvera_queries_and_documents_use_sum_and_average(tokens: TokenEmbeddingEncoder) -> None:
    encoder = MuveraEncoder(tokens=tokens, **SMALL_FDE)
    texts = ["Vitamin D deficiency is associated with fractures."]
    assert encoder.config()["fde"]["encoding_type"] == "AVERAGE"
    query, document = encoder.encode_queries(texts), encoder.encode_documents(texts)
    assert query.shape == document.shape == (1, 4 * 8 * 8)
    n_tokens = len(tokens.encode(texts)[0])
    # Each repetition's query blocks sum to all tokens' projections; the document's average does not.
    per_rep_query = query.reshape(4, 8, 8).sum(axis=1)
    assert not np.allclose(per_rep_query, document.reshape(4, 8, 8).sum(axis=1))
    assert n_tokens > 3


def test_fde_config_mismatch_is_caught_by_the_manifest(tokens: TokenEmbeddingEncoder, tmp_path: Path) -> None:
    from recplug.errors import IncompatibleFileError

    built = MuveraEncoder(tokens=tokens, seed=1, **SMALL_FDE)
    other = MuveraEncoder(tokens=tokens, seed=2, **SMALL_FDE)
    index = MuveraChamferIndex(dimension=384, **SMALL_FDE)
    index.add(tokens.encode(["one document", "another document"]), ["a", "b"])
    index.save(tmp_path / "idx", encoder_config=built.config())
    MuveraChamferIndex.load(tmp_path / "idx", encoder_config=built.config())
    with pytest.raises(IncompatibleFileError):
        MuveraChamferIndex.load(tmp_path / "idx", encoder_config=other.config())
