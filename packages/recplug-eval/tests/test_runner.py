"""The runner: plugin-supplied encoder+index pairs, pairing errors, rerank, Chamfer, report files."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from recplug import RetrievalEncoderSpec, RetrievalIndexSpec, hookimpl, load_plugin_manager
from recplug.errors import ConfigError
from recplug.multivector import MultiVectorBatch
from recplug.protocols import IndexCapabilities, SearchResult
from recplug_eval import chamfer_scores
from recplug_eval.report import write_report
from recplug_eval.runner import EvalConfig, SystemConfig, run_evaluation
from recplug_eval.runs import read_trec_run

VOCAB = 4096


class HashedBagOfWords:
    """A sparse encoder as another plugin would ship it: scipy CSR rows over hashed lowercase words."""

    name, output, dimension = "hash-bow", "sparse", VOCAB

    def config(self):
        return {"encoder": self.name, "vocab": VOCAB}

    def _encode(self, texts):
        import scipy.sparse as sp

        rows, cols = [], []
        for i, text in enumerate(texts):
            for word in {w.strip(".,;:()").lower() for w in text.split()} - {""}:
                rows.append(i)
                cols.append(zlib.crc32(word.encode()) % VOCAB)
        data = np.ones(len(rows), np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(texts), VOCAB))

    encode_documents = encode_queries = _encode


class SparseDotIndex:
    """The matching index: it takes ``sparse`` input (capabilities.input)."""

    name = "sparse-dot"
    capabilities = IndexCapabilities(exact=True, supports_save=False, input="sparse")

    def __init__(self, dimension: int) -> None:
        self.dimension, self._docs, self._ids = dimension, None, np.zeros(0, str)

    def add(self, vectors, ids):
        import scipy.sparse as sp

        self._docs = vectors if self._docs is None else sp.vstack([self._docs, vectors]).tocsr()
        self._ids = np.concatenate([self._ids, np.asarray(ids, str)])

    def search(self, queries, k):
        scores = np.asarray((queries @ self._docs.T).todense(), np.float32)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return SearchResult(ids=self._ids[order], scores=np.take_along_axis(scores, order, axis=1))

    def remove(self, ids):
        raise ConfigError("sparse-dot cannot remove (capabilities.supports_removal is False)")

    def __len__(self):
        return len(self._ids)

    def memory_bytes(self):
        docs = self._docs
        return 0 if docs is None else int(docs.data.nbytes + docs.indices.nbytes + docs.indptr.nbytes)

    def save(self, path, *, encoder_config=None):
        raise ConfigError("sparse-dot cannot save (capabilities.supports_save is False)")

    @classmethod
    def load(cls, path, *, encoder_config=None):
        raise ConfigError("sparse-dot cannot load (capabilities.supports_save is False)")


class FittedBagOfWords(HashedBagOfWords):
    """Learns from the documents it encodes: queries need encode_documents to have run first."""

    name = "fitted-bow"

    def __init__(self) -> None:
        self.fitted = False

    def encode_documents(self, texts):
        self.fitted = True
        return self._encode(texts)

    def encode_queries(self, texts):
        if not self.fitted:
            raise RuntimeError("not fitted")
        return self._encode(texts)


class SparsePlugin:
    @hookimpl
    def recplug_retrieval_encoders(self):
        return [
            RetrievalEncoderSpec("hash-bow", factory=HashedBagOfWords, output="sparse", index="sparse-dot"),
            RetrievalEncoderSpec(
                "fitted-bow", factory=FittedBagOfWords, output="sparse", index="sparse-dot", fits_on_documents=True
            ),
        ]

    @hookimpl
    def recplug_retrieval_indexes(self):
        return [RetrievalIndexSpec("sparse-dot", factory=SparseDotIndex, capabilities=SparseDotIndex.capabilities)]


@pytest.fixture(scope="module")
def pm():
    manager = load_plugin_manager()
    manager.register_plugin(SparsePlugin(), "fake-sparse", "fake-sparse-dist", "1.0")
    return manager


@pytest.fixture
def slice_config(scifact_slice: Path, encodings_cache: Path) -> EvalConfig:
    return EvalConfig(dataset="beir", dataset_config={"path": str(scifact_slice)}, cache_dir=encodings_cache, k=20)


def test_plugin_pair_runs_without_runner_changes(pm, slice_config: EvalConfig) -> None:
    report = run_evaluation(slice_config, [SystemConfig(name="bow", encoder="hash-bow")], pm=pm, progress=False)
    (bow,) = report.systems
    assert bow.config["index"] == "sparse-dot"  # chosen from the encoder spec's index field
    assert 0.3 < bow.metrics["nDCG@10"] <= 1.0
    assert bow.run.height == 30 * 20
    assert bow.memory_bytes and bow.memory_bytes > 0


def test_mismatched_pair_is_a_config_error(pm, slice_config: EvalConfig) -> None:
    with pytest.raises(ConfigError, match="index 'exact' takes 'dense' input but encoder 'hash-bow' outputs 'sparse'"):
        run_evaluation(slice_config, [SystemConfig(name="x", encoder="hash-bow", index="exact")], pm=pm, progress=False)


def test_unknown_components_and_bad_systems(pm, slice_config: EvalConfig) -> None:
    from recplug.errors import UnknownComponentError

    with pytest.raises(UnknownComponentError, match="nope"):
        run_evaluation(slice_config, [SystemConfig(name="x", encoder="nope")], pm=pm, progress=False)
    with pytest.raises(ConfigError, match="unique"):
        run_evaluation(slice_config, [SystemConfig.bm25("a"), SystemConfig.bm25("a")], pm=pm)
    with pytest.raises(ConfigError, match="needs an encoder"):
        SystemConfig(name="x")
    with pytest.raises(ConfigError, match="unknown keys"):
        SystemConfig.from_dict({"name": "x", "encoder": "minilm", "colour": "red"})
    with pytest.raises(ConfigError, match="split"):
        run_evaluation(EvalConfig(dataset="scifact", split="dev"), [SystemConfig.bm25()], pm=pm)


def test_rerank_rescored_with_exact_dense_scores(pm, slice_config: EvalConfig, tmp_path: Path) -> None:
    systems = [
        SystemConfig.bm25("bm25"),
        SystemConfig(name="bm25>minilm", kind="bm25", rerank_encoder="minilm", rerank_depth=50),
    ]
    report = run_evaluation(slice_config, systems, pm=pm, progress=False)
    plain, reranked = report.systems
    assert reranked.config["rerank"]["encoder"] == "minilm" and reranked.run.height == 30 * 20
    assert "rerank_s" in reranked.timings
    first = reranked.run.filter(reranked.run["rank"] <= 20)
    scores = first.group_by("query_id", maintain_order=True).agg("score")["score"].to_list()
    assert all(s == sorted(s, reverse=True) for s in scores)
    assert not plain.run["doc_id"].equals(reranked.run["doc_id"])  # order changed

    paths = write_report(report, tmp_path / "out")
    saved = json.loads(paths["json"].read_text())
    assert [s["name"] for s in saved["systems"]] == ["bm25", "bm25>minilm"]
    assert saved["systems"][0]["metrics"]["nDCG@10"] == pytest.approx(plain.metrics["nDCG@10"])
    assert saved["dataset"]["documents"] == 200 and saved["dataset"]["judged_queries"] == 30
    table = paths["markdown"].read_text()
    assert "| bm25>minilm" in table and "nDCG@10" in table
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert read_trec_run(paths["run:bm25>minilm"]).height == reranked.run.height
    assert paths["run:bm25>minilm"].name == "bm25-minilm.trec"


def test_chamfer_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    query = rng.normal(size=(3, 8)).astype(np.float32)
    sets = [rng.normal(size=(n, 8)).astype(np.float32) for n in (1, 4, 2)]
    batch = MultiVectorBatch.from_sets(sets)
    got = chamfer_scores(query, batch.values, batch.offsets)
    expected = [sum(max(float(q @ d) for d in s) for q in query) for s in sets]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_encoders_that_fit_on_documents_bypass_the_cache(pm, slice_config: EvalConfig) -> None:
    systems = [SystemConfig(name="fitted", encoder="fitted-bow")]
    first = run_evaluation(slice_config, systems, pm=pm, progress=False).systems[0]
    second = run_evaluation(slice_config, systems, pm=pm, progress=False).systems[0]  # would fail if cached
    assert first.metrics == second.metrics
    assert "documents_from_cache" not in second.timings


# ------------------------------------------------------------------------------- one query at a time, reference recall


def test_single_query_latency_and_recall_against_a_reference(pm, slice_config: EvalConfig) -> None:
    from dataclasses import replace

    config = replace(slice_config, latency_queries=7, latency_seed=3)
    systems = [
        SystemConfig(name="bow", encoder="hash-bow", reference="bow-again"),
        SystemConfig(name="bow-again", encoder="hash-bow"),  # references may come after the system
        SystemConfig.bm25("bm25", reference="bow"),
    ]
    report = run_evaluation(config, systems, pm=pm, progress=False)
    bow, again, bm25 = report.systems
    for result in report.systems:
        p50, p95 = result.timings["single_query_p50_ms"], result.timings["single_query_p95_ms"]
        assert 0 < p50 <= p95
        sample = result.config["single_query_latency"]
        assert (sample["queries"], sample["of"], sample["sampled"], sample["seed"]) == (7, 30, True, 3)
        assert result.timings["search_s"] > 0  # the batch timings are kept
    assert bow.metrics["R@10 vs bow-again"] == 1.0 and bow.metrics["R@20 vs bow-again"] == 1.0
    assert 0.0 < bm25.metrics["R@10 vs bow"] < 1.0
    assert not any(" vs " in name for name in again.metrics)


def test_latency_off_and_all_queries(pm, slice_config: EvalConfig) -> None:
    from dataclasses import replace

    (off,) = run_evaluation(replace(slice_config, latency_queries=0), [SystemConfig.bm25()], pm=pm, progress=False).systems
    assert "single_query_p50_ms" not in off.timings
    (every,) = run_evaluation(replace(slice_config, latency_queries=500), [SystemConfig.bm25()], pm=pm, progress=False).systems
    assert every.config["single_query_latency"]["queries"] == 30 and not every.config["single_query_latency"]["sampled"]


def test_a_latency_time_limit_stops_the_timing_after_the_minimum(pm, slice_config: EvalConfig) -> None:
    from dataclasses import replace

    from recplug_eval.report import markdown_report
    from recplug_eval.runner import MIN_LATENCY_QUERIES

    limited = replace(slice_config, latency_queries=30, latency_seconds=1e-9)
    (bm25,) = run_evaluation(limited, [SystemConfig.bm25()], pm=pm, progress=False).systems
    sample = bm25.config["single_query_latency"]
    assert (sample["queries"], sample["of"], sample["sampled"]) == (MIN_LATENCY_QUERIES, 30, True)
    report = run_evaluation(replace(slice_config, latency_queries=30), [SystemConfig.bm25()], pm=pm, progress=False)
    report.systems.append(bm25)  # two systems timed over 30 and 20 queries: the report says which stopped early
    report.systems[1].name = "bm25 (limited)"
    assert "1-query latency over 30 queries (bm25 (limited): 20, where the time limit stopped it)" in markdown_report(report)
    for bad in (0, -1.0, "5", True):
        with pytest.raises(ConfigError, match="latency_seconds must be a positive number"):
            EvalConfig(latency_seconds=bad)


def test_a_folder_without_judgments_is_scored_against_a_reference(pm, scifact_slice: Path, tmp_path: Path) -> None:
    """A BEIR folder without qrels/ (e.g. the built corpus of tools/bench/muvera): every query is answered and
    the only measure is the overlap with the reference system's run; without a reference it is a one-line error."""
    import shutil

    from recplug_eval.report import markdown_report, write_report

    folder = tmp_path / "unjudged"
    shutil.copytree(scifact_slice, folder)
    shutil.rmtree(folder / "qrels")
    config = EvalConfig(dataset="beir", dataset_config={"path": str(folder)}, k=20, use_cache=False,
                        latency_queries=0, max_queries=25)
    with pytest.raises(ConfigError, match=r"has no qrels .*name a reference system"):
        run_evaluation(config, [SystemConfig.bm25()], pm=pm, progress=False)
    systems = [SystemConfig.bm25(), SystemConfig(name="bow", encoder="hash-bow", reference="bm25")]
    report = run_evaluation(config, systems, pm=pm, progress=False)
    bm25, bow = report.systems
    assert bm25.metrics == {} and bm25.per_query is None and bm25.run["query_id"].n_unique() == 25
    assert set(bow.metrics) == {"R@10 vs bm25", "R@20 vs bm25"} and 0.0 < bow.metrics["R@10 vs bm25"] < 1.0
    assert report.dataset["split"] is None and report.dataset["judgments"] == 0 and report.dataset["judged_queries"] == 25
    assert "no judgments" in markdown_report(report)
    paths = write_report(report, tmp_path / "out")
    assert (tmp_path / "out" / "plot.png").stat().st_size > 0 and not any(k.startswith("per_query") for k in paths)


def test_recall_against_counts_overlap() -> None:
    import polars as pl
    from recplug_eval.runner import recall_against

    run = pl.DataFrame({"query_id": ["a", "a", "b", "b"], "doc_id": ["x", "y", "x", "z"], "rank": [1, 2, 1, 2]})
    ref = pl.DataFrame({"query_id": ["a", "a", "b", "b", "c"], "doc_id": ["y", "x", "x", "w", "v"], "rank": [1, 2, 1, 2, 1]})
    assert recall_against(run, ref, 2) == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert recall_against(run, ref, 1) == pytest.approx((0.0 + 1.0 + 0.0) / 3)


def test_bad_references_are_one_line_config_errors(pm, slice_config: EvalConfig) -> None:
    with pytest.raises(ConfigError, match=r"reference 'nope' is not a system of this run; systems: bm25$"):
        run_evaluation(slice_config, [SystemConfig.bm25(reference="nope")], pm=pm, progress=False)
    with pytest.raises(ConfigError, match="reference must name another system"):
        SystemConfig.bm25(reference="bm25")
    with pytest.raises(ConfigError, match="latency_queries must be an integer >= 0"):
        EvalConfig(latency_queries=-1)
