"""The inference-free encoder on real MiniLM weights and real SciFact text (small slices)."""

from __future__ import annotations

import numpy as np
import pytest
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError, InvalidInputError
from recplug.testing import EncoderConformance
from recplug_flops_idf.encoder import InferenceFreeSparseEncoder
from recplug_flops_idf.idf import bm25_idf, corpus_idf
from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder


@pytest.fixture(scope="module")
def fitted_encoder(scifact_docs):
    encoder = InferenceFreeSparseEncoder(max_length=64)
    encoder.fit_idf(scifact_docs)
    return encoder


class TestInferenceFreeEncoder(EncoderConformance):
    @pytest.fixture
    def encoder(self, fitted_encoder):
        return fitted_encoder


def test_idf_is_lucene_bm25():
    idf = bm25_idf(np.array([0, 1, 10]), 10)
    np.testing.assert_allclose(idf, np.log1p((10 - np.array([0, 1, 10]) + 0.5) / (np.array([0, 1, 10]) + 0.5)), rtol=1e-6)
    assert idf[0] > idf[1] > idf[2] > 0


def test_query_terms_are_unique_and_weighted_by_idf(vocab, scifact_docs):
    idf = corpus_idf(vocab.token_ids(scifact_docs), vocab.size)
    q = InferenceFreeQueryEncoder(vocab, idf).encode(["cancer cancer cells", "the [MASK] protein"])
    cancer = vocab.tokenizer.convert_tokens_to_ids("cancer")
    assert q[0, cancer] == pytest.approx(idf[cancer])
    assert q[0].nnz == 2  # "cancer" once, "cells" once
    assert not set(q[1].indices) & set(vocab.special_ids.tolist())
    assert idf[vocab.tokenizer.convert_tokens_to_ids("the")] < idf[cancer]
    binary = InferenceFreeQueryEncoder(vocab, idf, weighting="binary").encode(["cancer cells"])
    assert set(binary.data.tolist()) == {1.0}


@pytest.mark.parametrize("bad", ["", "   ", "[CLS] [SEP] [PAD]", "\u2603\u2603"])
def test_queries_without_usable_terms_are_errors(fitted_encoder, bad):
    with pytest.raises(InvalidInputError, match="row 1"):
        fitted_encoder.encode_queries(["fine query", bad])
    with pytest.raises(InvalidInputError, match="row 0"):
        fitted_encoder.encode_documents([bad])


def test_queries_need_an_idf_first():
    with pytest.raises(ConfigError, match="IDF"):
        InferenceFreeSparseEncoder().encode_queries(["x"])


def test_documents_are_sparse_nonnegative_and_lexical(fitted_encoder, vocab):
    docs = fitted_encoder.encode_documents(["Microstructural development of human newborn cerebral white matter."])
    assert docs.shape == (1, vocab.size)
    assert (docs.data > 0).all() and 20 < docs.nnz < 3000
    assert not set(docs.indices) & set(vocab.special_ids.tolist())
    top = set(vocab.tokens(docs.indices[np.argsort(-docs.data)[:15]]))
    assert {"white", "matter"} & top


def test_end_to_end_search_finds_the_right_document_and_reloads(fitted_encoder, scifact_docs, tmp_path):
    docs = scifact_docs[:20]
    index = fitted_encoder.build_index()
    index.add(fitted_encoder.encode_documents(docs), np.arange(len(docs)))
    result = index.search(fitted_encoder.encode_queries([docs[7][:120]]), k=3)
    assert result.ids[0, 0] == 7
    config = fitted_encoder.config()
    index.save(tmp_path / "ix", encoder_config=config)
    with pytest.raises(IncompatibleFileError, match="vocabulary mismatch"):
        type(index).load(tmp_path / "ix", encoder_config={**config, "vocab_sha256": "0" * 64})
    again = type(index).load(tmp_path / "ix", encoder_config=config)
    np.testing.assert_array_equal(again.search(fitted_encoder.encode_queries([docs[7][:120]]), 3).ids, result.ids)


def test_a_saved_index_answers_text_queries_with_its_own_tokenizer(fitted_encoder, scifact_docs, tmp_path):
    docs = scifact_docs[:20]
    index = fitted_encoder.build_index()
    index.add(fitted_encoder.encode_documents(docs), np.arange(len(docs)))
    index.save(tmp_path / "ix")
    assert [p.name for p in (tmp_path / "ix").glob("tokenizer-*/vocab.txt")]
    again = type(index).load(tmp_path / "ix")
    queries = again.query_encoder().encode([docs[7][:120]])  # no model, no encoder: the index's files only
    expected = fitted_encoder.encode_queries([docs[7][:120]])
    np.testing.assert_array_equal(queries.indices, expected.indices)  # same term set (binary values)
    assert again.search(queries, 3).ids[0, 0] == 7
    again.save(tmp_path / "ix")  # saving again onto its own folder keeps the tokenizer
    assert type(index).load(tmp_path / "ix").query_encoder().vocab.checksum == fitted_encoder.vocab.checksum
    (vocab,) = (tmp_path / "ix").glob("tokenizer-*/vocab.txt")  # one generation left after the second save
    with open(vocab, "a") as handle:
        handle.write("extra\n")
    with pytest.raises(CorruptFileError, match=r"vocab\.txt: checksum"):
        type(index).load(tmp_path / "ix")


def test_an_index_rejects_a_tokenizer_of_another_vocabulary(fitted_encoder, tmp_path):
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "vocab.txt").write_text("[PAD]\nother\n")
    with pytest.raises(ConfigError, match="not the one of vocab_sha256"):
        type(fitted_encoder.build_index())(fitted_encoder.dimension, vocab_sha256=fitted_encoder.vocab.checksum,
                                           tokenizer_dir=tmp_path / "tok")
    with pytest.raises(ConfigError, match="no tokenizer"):
        type(fitted_encoder.build_index())(fitted_encoder.dimension, idf=fitted_encoder.idf).query_encoder()


def test_lexical_channel_adds_bm25_document_weights_and_fits_avgdl(scifact_docs, vocab):
    docs = scifact_docs[:12]
    plain = InferenceFreeSparseEncoder(max_length=64)
    lexical = InferenceFreeSparseEncoder(max_length=64, lexical_weight=0.5)
    difference = (lexical.encode_documents(docs) - plain.encode_documents(docs)).toarray()
    ids = vocab.token_ids(docs)
    avgdl = np.mean([len(t) for t in ids])
    assert lexical.model().head.lexical_channel.average_length == pytest.approx(avgdl)
    for row, terms in enumerate(ids):
        unique, tf = np.unique(terms, return_counts=True)
        expected = 0.5 * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(terms) / avgdl))
        np.testing.assert_allclose(difference[row, unique], expected, rtol=1e-4, atol=1e-5)
        assert np.count_nonzero(np.delete(difference[row], unique)) == 0
    assert lexical.config()["lexical_weight"] == 0.5 and "lexical_weight" not in plain.config()
    with pytest.raises(ConfigError, match="lexical channel"):
        InferenceFreeSparseEncoder(lexical_weight=-1.0)


def test_bfloat16_is_on_by_default_only_where_the_cpu_runs_it_natively(monkeypatch: pytest.MonkeyPatch) -> None:
    import recplug_flops_idf.encoder as encoder_module

    for native in (True, False):  # AVX512-BF16 / AMX: bfloat16 autocast; AVX2 only: float32 (6x faster there)
        monkeypatch.setattr(encoder_module, "native_bf16", lambda native=native: native)
        assert InferenceFreeSparseEncoder().bf16 is native
        assert InferenceFreeSparseEncoder(bf16=not native).bf16 is (not native)  # an explicit choice stands


def test_the_default_window_reads_first_windows_from_the_dense_encoders_pass(scifact_docs, tmp_path):
    from recplug_eval import MINILM_NAME, model_description, shared_token_embeddings

    docs = [" ".join(scifact_docs[:2]), *scifact_docs[2:6]]  # the first one has a second window
    shared = InferenceFreeSparseEncoder(cache=tmp_path / "a")
    own = InferenceFreeSparseEncoder(cache=False)
    assert shared.max_length == own.max_length == 256
    assert shared.model_pass_key()["first_window"] == "shared"
    assert InferenceFreeSparseEncoder(max_length=128, cache=tmp_path / "b").model_pass_key()["first_window"] == "own"
    a, b = shared.encode_documents(docs).toarray(), own.encode_documents(docs).toarray()
    both = (a > 0) & (b > 0)
    assert both.sum() >= 0.98 * max((a > 0).sum(), (b > 0).sum())  # float16 states: terms at the threshold may differ
    np.testing.assert_allclose(a[both], b[both], atol=0.02)

    class NoModel:  # the cache must answer: running a model here would fail
        def __getitem__(self, index: int) -> None:
            raise AssertionError("the sparse encoder did not leave the shared pass in the cache")

    # the pass it read is the one dense MiniLM and minilm-tokens read (the same cache entry)
    assert len(shared_token_embeddings(NoModel(), model_description(MINILM_NAME, 256, shared.bf16), docs)) == len(docs)


def test_a_second_head_on_the_same_corpus_runs_no_backbone(scifact_docs, tmp_path, monkeypatch):
    from recplug_flops_idf.shipped import manifest

    docs = [" ".join(scifact_docs[:2]), *scifact_docs[2:5]]  # the first one has a second window
    first = InferenceFreeSparseEncoder(cache=tmp_path / "a")
    first.encode_documents(docs)
    name = sorted(manifest())[0]
    second = InferenceFreeSparseEncoder(shipped_head=name, cache=tmp_path / "b")
    bert = second.model().bert

    def no_backbone(*args, **kwargs):
        raise AssertionError("the backbone ran: the later windows were not read from the cache")

    monkeypatch.setattr(bert, "forward", no_backbone)
    weights = second.encode_documents(docs)
    assert weights.shape[0] == len(docs) and weights.nnz > 0


def test_mean_terms_prunes_the_corpus_to_a_matched_sparsity(fitted_encoder, scifact_docs):
    docs = scifact_docs[:12]
    full = fitted_encoder.encode_documents(docs)
    pruned_encoder = InferenceFreeSparseEncoder(max_length=64, idf=fitted_encoder.idf, mean_terms=40)
    pruned = pruned_encoder.encode_documents(docs)
    assert pruned.nnz / len(docs) == pytest.approx(40, abs=0.5) and full.nnz / len(docs) > 60
    kept = pruned.toarray() > 0
    dense = full.toarray()
    np.testing.assert_allclose(pruned.toarray()[kept], dense[kept], rtol=1e-5)  # the kept weights are unchanged
    assert dense[kept].min() >= dense[~kept & (dense > 0)].max()  # and they are the largest of the corpus
    assert pruned_encoder.config()["mean_terms"] == 40 and "mean_terms" not in fitted_encoder.config()
    for bad in (0, -3, "40", True):
        with pytest.raises(ConfigError, match="mean_terms"):
            InferenceFreeSparseEncoder(mean_terms=bad)


def test_a_shipped_head_is_read_with_the_window_it_was_trained_with():
    from recplug_flops_idf.shipped import manifest

    for name, entry in manifest().items():
        assert InferenceFreeSparseEncoder(shipped_head=name).max_length == entry["window"]
        assert InferenceFreeSparseEncoder(shipped_head=name, max_length=64).max_length == 64
