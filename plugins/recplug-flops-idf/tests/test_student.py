"""Issue 33: cached document encodings, windowed tokenization without the length alarm, trained heads over the
whole vocabulary, compact head files and the ``recplug flops-idf-train`` command (real MiniLM, SciFact slices)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from recplug_flops_idf.doc_encoder import SparseHead, load_head
from recplug_flops_idf.encoder import InferenceFreeSparseEncoder, warn_unscored

#: words that never occur in SciFact's first 200 documents (a second corpus in another domain)
OTHER_CORPUS = [
    "The quarterback threw a touchdown pass in the fourth quarter of the championship.",
    "Espresso, cappuccino and latte: the barista steamed the milk for the cappuccino.",
    "The sailboat's spinnaker and jib were trimmed before the regatta.",
]


def count_forward_calls(encoder: InferenceFreeSparseEncoder) -> list[int]:
    calls = [0]
    encoder.model().bert.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_second_encode_reads_the_cache_and_gives_identical_output(scifact_docs, tmp_path):
    docs = scifact_docs[:12]
    first = InferenceFreeSparseEncoder(max_length=64, lexical_weight=1.0, cache=tmp_path)
    calls = count_forward_calls(first)
    a = first.encode_documents(docs)
    assert calls[0] > 0
    second = InferenceFreeSparseEncoder(max_length=64, lexical_weight=1.0, cache=tmp_path)  # a new run
    calls = count_forward_calls(second)
    b = second.encode_documents(docs)
    assert calls[0] == 0, "the model ran although the model pass was cached"
    assert (a != b).nnz == 0 and np.array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(first.idf, second.idf)
    uncached = InferenceFreeSparseEncoder(max_length=64, lexical_weight=1.0, cache=False).encode_documents(docs)
    assert (a != uncached).nnz == 0  # learned + lexical from the cache == the single pass with the channel
    assert len(list(tmp_path.glob("*.npz"))) == 1
    other = InferenceFreeSparseEncoder(max_length=32, lexical_weight=1.0, cache=tmp_path)  # other settings
    calls = count_forward_calls(other)
    other.encode_documents(docs)
    assert calls[0] > 0 and len(list(tmp_path.glob("*.npz"))) == 2


def test_the_fitted_part_follows_the_corpus_not_the_cache(scifact_docs, tmp_path):
    """The IDF and the lexical channel's avgdl are fitted per corpus, even when the model pass is cached."""
    docs = scifact_docs[:10]
    InferenceFreeSparseEncoder(max_length=64, lexical_weight=1.0, cache=tmp_path).encode_documents(docs)
    encoder = InferenceFreeSparseEncoder(max_length=64, lexical_weight=1.0, cache=tmp_path)
    encoder.encode_documents(docs)
    fresh = InferenceFreeSparseEncoder(max_length=64, lexical_weight=1.0, cache=False)
    fresh.fit_idf(docs[:5])
    assert not np.array_equal(fresh.idf, encoder.idf)


def test_long_documents_are_windowed_without_the_length_alarm(scifact_docs, tmp_path, capfd):
    from transformers.utils import logging as hf_logging

    long_doc = " ".join(scifact_docs[:8])
    encoder = InferenceFreeSparseEncoder(max_length=64, max_windows=2, cache=tmp_path)
    assert len(encoder.vocab.tokenizer(long_doc, verbose=False)["input_ids"]) > 512
    encoder.vocab.tokenizer.deprecation_warnings.clear()  # transformers warns once per tokenizer
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    try:
        encoder.encode_documents([long_doc, scifact_docs[9]])
        encoder.encode_queries([long_doc])
    finally:
        hf_logging.set_verbosity(level)
    captured = capfd.readouterr()
    assert "sequence length is longer" not in captured.err + captured.out


def trained_subset_head(embeddings: torch.Tensor, terms: np.ndarray) -> SparseHead:
    """A head over ``terms`` whose parameters moved as training moves them (a few rows, every bias)."""
    head = SparseHead(embeddings, terms, init_bias=-3.5, skip_scale=2.0)
    with torch.no_grad():
        head.weight[:40] += 1e-3 * torch.randn(40, embeddings.shape[1])
        head.bias += 0.1 * torch.randn(len(terms))
    return head


def test_a_trained_head_scores_the_whole_vocabulary_on_another_corpus(vocab, scifact_docs, tmp_path, caplog):
    from recplug_flops_idf.student import corpus_terms

    encoder = InferenceFreeSparseEncoder(max_length=64, cache=False)
    embeddings = encoder.model().bert.embeddings.word_embeddings.weight
    terms = corpus_terms(vocab.token_ids(scifact_docs), vocab)  # the "training corpus": 200 SciFact documents
    head = trained_subset_head(embeddings, terms)
    head.save(tmp_path / "head.pt", compact=True)
    other_ids = vocab.token_ids(OTHER_CORPUS)
    unseen = np.setdiff1d(np.concatenate(other_ids), terms)
    assert len(unseen) >= 5  # e.g. quarterback, espresso, regatta

    with caplog.at_level(logging.WARNING):
        assert warn_unscored(head, other_ids, None) > 0.05  # the head alone: loudly incomplete
    assert "get no weight" in caplog.text

    trained = InferenceFreeSparseEncoder(head_path=tmp_path / "head.pt", max_length=64, cache=False)
    full = trained.model().head
    assert len(full.term_ids) == vocab.size - len(vocab.special_ids)
    assert warn_unscored(full, other_ids, None) == 0.0
    rows = full.columns[torch.as_tensor(terms)]
    torch.testing.assert_close(full.bias[rows], head.bias, rtol=0, atol=0)
    torch.testing.assert_close(full.weight[rows], head.weight, rtol=0, atol=2e-6)  # float16 deltas
    rest = full.columns[torch.as_tensor(unseen)]
    torch.testing.assert_close(full.weight[rest], embeddings[torch.as_tensor(unseen)])  # the tied start
    assert torch.all(full.bias[rest] == -3.5)
    docs = trained.encode_documents(OTHER_CORPUS)
    assert np.isin(unseen, docs.indices).mean() > 0.5  # the unseen words of the other corpus get weights


def test_compact_heads_are_small_and_load_like_full_ones(vocab, tmp_path):
    embeddings = torch.randn(vocab.size, 16)
    terms = np.arange(1000, 6000)
    head = trained_subset_head(embeddings, terms)
    head.save(tmp_path / "full.pt")
    head.save(tmp_path / "compact.pt", compact=True)
    assert (tmp_path / "compact.pt").stat().st_size < (tmp_path / "full.pt").stat().st_size / 2
    a, b = load_head(tmp_path / "full.pt", embeddings), load_head(tmp_path / "compact.pt", embeddings)
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.bias, b.bias, rtol=0, atol=0)


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory):
    """60 SciFact documents (cut to 300 characters), 12 train and 4 test queries judged on them."""
    import polars as pl
    from recplug_eval import BeirDataset, default_scifact_path, write_beir

    ds = BeirDataset(default_scifact_path())
    train = ds.qrels("train")
    chosen = train["query_id"].unique(maintain_order=True).head(16).to_list()
    judged = train.filter(pl.col("query_id").is_in(chosen))
    corpus = ds.corpus()
    keep = set(judged["doc_id"].to_list()) | set(corpus["doc_id"].head(60 - judged.height).to_list())
    corpus = corpus.filter(pl.col("doc_id").is_in(list(keep))).with_columns(pl.col("text").str.slice(0, 300))
    qrels = {"train": judged.filter(pl.col("query_id").is_in(chosen[:12])),
             "test": judged.filter(pl.col("query_id").is_in(chosen[12:]))}
    queries = ds.queries().filter(pl.col("query_id").is_in(chosen))
    return write_beir(tmp_path_factory.mktemp("beir") / "tiny", corpus, queries, qrels)


def test_the_train_command_trains_saves_and_evaluates(tiny_beir, tmp_path, capsys):
    from recplug.cli.main import main

    out = tmp_path / "student"
    assert main(["flops-idf-train", str(tiny_beir), "--out", str(out), "--steps", "3", "--batch", "4",
                 "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert "about" in err and "min" in err  # the time estimate, before training
    record = json.loads((out / "student.json").read_text())
    assert record["config"]["steps"] == 3 and record["examples"] > 0
    assert set(record["metrics"]) == {"student", "bm25"} and 0 <= record["metrics"]["student"]["nDCG@10"] <= 1
    encoder = InferenceFreeSparseEncoder(head_path=out / "head.pt", max_length=64, cache=False)
    assert len(encoder.model().head.term_ids) == encoder.vocab.size - len(encoder.vocab.special_ids)


def test_the_train_command_needs_a_train_split(tiny_beir, tmp_path, capsys):
    import shutil

    from recplug.cli.main import main

    folder = tmp_path / "no-train"
    shutil.copytree(tiny_beir, folder)
    (folder / "qrels" / "train.tsv").unlink()
    assert main(["flops-idf-train", str(folder), "--out", str(tmp_path / "o")]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no qrels/train.tsv" in lines[0]


def test_shipped_heads_are_checked_against_their_checksum(vocab, tmp_path):
    from recplug.errors import ConfigError, CorruptFileError
    from recplug.fileio import atomic_write_json, sha256_file
    from recplug_flops_idf.shipped import shipped_head

    SparseHead(torch.randn(vocab.size, 8), np.arange(1000, 1100)).save(tmp_path / "h.pt", compact=True)
    atomic_write_json(tmp_path / "heads.json", {"h": {"file": "h.pt", "sha256": sha256_file(tmp_path / "h.pt"),
                                                      "command": "recplug flops-idf-train"}})
    assert shipped_head("h", tmp_path) == tmp_path / "h.pt"
    with pytest.raises(ConfigError, match="no shipped sparse head 'other'"):
        shipped_head("other", tmp_path)
    with open(tmp_path / "h.pt", "ab") as handle:
        handle.write(b"x")
    with pytest.raises(CorruptFileError, match="does not match"):
        shipped_head("h", tmp_path)


def test_every_shipped_head_matches_its_checksum_and_loads_over_the_whole_vocabulary(vocab):
    """What ships in ``heads/`` (none: nothing to check) is listed, intact, trained and usable on any corpus."""
    from recplug_flops_idf.encoder import InferenceFreeSparseEncoder
    from recplug_flops_idf.shipped import heads_folder, manifest, shipped_head

    listed = manifest()
    assert sorted(p.name for p in heads_folder().glob("*.pt")) == sorted(e["file"] for e in listed.values())
    for name, entry in listed.items():
        path = shipped_head(name)
        assert path.stat().st_size == entry["bytes"] and entry["command"].startswith("recplug flops-idf-train")
        head = InferenceFreeSparseEncoder(shipped_head=name, cache=False).model().head
        assert len(head.term_ids) >= vocab.size - len(vocab.special_ids)
        untrained = head.input_embeddings[head.term_ids]
        moved = (head.weight - untrained).abs().amax(dim=1) > 0
        assert 0 < int(moved.sum()) < len(head.term_ids)  # trained rows, and tied rows for the other terms


def test_terms_head_scores_only_the_heads_terms_with_the_same_weights(scifact_docs):
    """``terms="head"`` (the demo's setting) is the whole-vocabulary encoding restricted to the head's own terms."""
    from recplug.errors import ConfigError
    from recplug_flops_idf.encoder import InferenceFreeSparseEncoder
    from recplug_flops_idf.shipped import manifest

    with pytest.raises(ConfigError, match="needs a trained head"):
        InferenceFreeSparseEncoder(terms="head")
    with pytest.raises(ConfigError, match="terms"):
        InferenceFreeSparseEncoder(terms="corpus")
    if not manifest():
        pytest.skip("no head ships with this install")
    name = sorted(manifest())[0]
    texts = scifact_docs[:3]
    whole = InferenceFreeSparseEncoder(shipped_head=name, cache=False, batch_size=3)
    own = InferenceFreeSparseEncoder(shipped_head=name, cache=False, batch_size=3, terms="head")
    head_terms = own.model().head.term_ids.numpy()
    assert len(head_terms) < len(whole.model().head.term_ids)
    a, b = whole.encode_documents(texts).toarray(), own.encode_documents(texts).toarray()
    assert set(np.nonzero(b)[1]) <= set(head_terms)
    np.testing.assert_allclose(b[:, head_terms], a[:, head_terms], rtol=1e-5, atol=1e-6)
    assert own.config()["terms"] == "head" and "terms" not in whole.config()


def test_the_demo_step_labels_what_it_runs():
    from recplug.records import DemoStep
    from recplug_flops_idf.demo import (
        PLAIN_IDF_NAME,
        PLAIN_NAME,
        STUDENT_NAME,
        UNTRAINED_NAME,
        demo_steps,
        shipped_available,
    )

    (step,) = demo_steps()
    assert isinstance(step, DemoStep) and step.systems is not None and step.run is not None
    system, *others = step.systems()
    if shipped_available():
        assert system.name == STUDENT_NAME and "shipped_head" in system.encoder_config
    else:
        assert system.name == UNTRAINED_NAME and "UNTRAINED" in system.name and not others
    if others:  # the plain-FLOPS student with binary queries (as trained) and IDF queries, at matched sparsity
        assert [o.name for o in others] == [PLAIN_NAME, PLAIN_IDF_NAME]
        assert others[0].encoder_config["query_weighting"] == "binary" and "query_weighting" not in others[1].encoder_config
        assert {o.encoder_config["mean_terms"] for o in others} == {system.encoder_config["mean_terms"]}


def test_matched_sparsity_is_the_sparser_heads_record():
    from recplug_flops_idf.demo import PLAIN, SHIPPED, matched_terms

    assert matched_terms({SHIPPED: {"terms_per_document": 420.0}, PLAIN: {"terms_per_document": 380.5}}) == 380.5
    assert matched_terms({SHIPPED: {"terms_per_document": 420.0}}) is None
    assert matched_terms({SHIPPED: {}, PLAIN: {"terms_per_document": 380.5}}) is None


def test_the_demo_section_reports_this_runs_numbers(tiny_beir, tmp_path):
    """The step's system through the real runner on a tiny BEIR folder, then its section from that report."""
    import recplug
    from recplug.records import DemoContext
    from recplug_eval import EvalConfig, SystemConfig, run_evaluation
    from recplug_flops_idf.demo import demo_section, demo_systems

    pm = recplug.load_plugin_manager()
    config = EvalConfig(dataset="beir", dataset_config={"path": str(tiny_beir)}, split="test", cache_dir=tmp_path,
                        latency_queries=2)
    systems = [SystemConfig.bm25("bm25"), *demo_systems()]
    report = run_evaluation(config, systems, pm=pm)
    section = demo_section(DemoContext(output_dir=tmp_path, config=config, pm=pm, report=report))
    ours = next(s for s in report.systems if s.name == systems[1].name)
    assert section.results["nDCG@10"] == ours.metrics["nDCG@10"]
    assert "BM25" in section.markdown and section.commands and section.caveats
    assert section.results["trained"] == ("shipped_head" in systems[1].encoder_config)
    from recplug_flops_idf.encoder import InferenceFreeSparseEncoder

    shares = InferenceFreeSparseEncoder(**systems[1].encoder_config).shares_first_window()
    assert ("came from the MiniLM pass" in section.markdown) == shares
    assert section.results["terms_per_document"] == ours.config["terms_per_document"] > 0
    if len(systems) > 2:  # the plain-FLOPS student ran beside it, at the same matched sparsity
        plain = next(s for s in report.systems if s.name == systems[2].name)
        assert section.results["plain_flops"][0]["nDCG@10"] == plain.metrics["nDCG@10"]
        target = systems[1].encoder_config["mean_terms"]
        assert max(ours.config["terms_per_document"], plain.config["terms_per_document"]) <= target + 0.5
        assert "plain FLOPS" in section.markdown and len(section.commands) == 2
