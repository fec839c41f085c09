"""The MUVERA demo step: its configuration choice, its section, and (real MiniLM, a SciFact slice) its systems
through the evaluation runner with R@k vs exact Chamfer and one-query latency."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from recplug.records import DemoSection
from recplug_muvera import demo
from recplug_muvera.chamfer import Int8Screen


@pytest.mark.parametrize(("native", "row"), [(True, "native-int8"), (False, "avx2-only")])
def test_the_configuration_follows_the_cpu(monkeypatch: pytest.MonkeyPatch, native: bool, row: str) -> None:
    monkeypatch.setattr(Int8Screen, "native_on_this_cpu", staticmethod(lambda: native))
    chosen = demo.recommended()
    assert chosen is demo.RECOMMENDED[row]
    exact, muvera = demo.muvera_systems()
    assert (exact.name, exact.index, exact.reference) == (demo.EXACT_NAME, "chamfer-exact", None)
    assert (muvera.name, muvera.index, muvera.reference) == (chosen.name, "muvera-chamfer", demo.EXACT_NAME)
    assert muvera.index_config == chosen.index_config
    assert chosen.index_config["rerank_dtype"] == ("int8" if native else "float32")


def fake_result(name: str, ms: float, single: float, metrics: dict[str, float], memory: int) -> Any:
    return SimpleNamespace(name=name, metrics=metrics, query_latency_ms=ms, memory_bytes=memory,
                           timings={"single_query_p50_ms": single})


def section_for(exact_ndcg: float, ndcg: float, recall: float) -> Any:
    """The section of a run where exact scored 400 / 500 ms and MUVERA 20 / 25 ms (batch / one query)."""
    report = SimpleNamespace(systems=[
        fake_result(demo.EXACT_NAME, 400.0, 500.0, {"nDCG@10": exact_ndcg}, 900),
        fake_result(demo.recommended().name, 20.0, 25.0, {"nDCG@10": ndcg, f"R@10 vs {demo.EXACT_NAME}": recall}, 1000),
    ])
    return demo.muvera_section(SimpleNamespace(report=report))


def test_the_section_reports_recall_speedup_and_the_command() -> None:
    chosen = demo.recommended()
    section = section_for(0.7072, 0.7078, 0.963)
    assert isinstance(section, DemoSection)
    assert "0.963" in section.markdown and "20.0x" in section.markdown and chosen.name in section.markdown
    assert section.results["speedup_batch"] == pytest.approx(20.0)
    assert section.results["speedup_single_query_p50"] == pytest.approx(20.0)
    assert list(section.commands) == [demo.BENCHMARK_COMMAND]
    assert section.results["meets_targets"] and not section.caveats
    missing = demo.muvera_section(SimpleNamespace(report=None))
    assert "did not run" in missing.markdown


def test_a_run_below_the_benchmarks_target_says_so() -> None:
    section = section_for(0.7073, 0.7080, 0.949)
    assert "Below the benchmark's target here" in section.markdown and "0.949 < 0.95" in section.markdown
    assert not section.results["meets_targets"]
    (caveat,) = section.caveats
    assert "misses the benchmark's target" in caveat and "nDCG" not in caveat  # only what it missed


def test_demo_systems_on_a_scifact_slice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real MiniLM token embeddings of a 150-document slice: exact Chamfer and the recommended MUVERA."""
    from recplug.manager import load_plugin_manager
    from recplug_eval import EvalConfig, run_evaluation, subset_beir

    monkeypatch.setenv("RECPLUG_CACHE_DIR", str(tmp_path / "cache"))
    pm = load_plugin_manager()
    folder = subset_beir(pm.create("dataset", "scifact"), tmp_path / "slice", max_docs=150, max_queries=12)
    config = EvalConfig(dataset="beir", dataset_config={"path": str(folder)}, k=20, latency_queries=4,
                        cache_dir=tmp_path / "cache")
    report = run_evaluation(config, demo.muvera_systems(), pm=pm, progress=False)
    exact, muvera = report.systems
    assert exact.metrics["nDCG@10"] > 0.5
    assert muvera.metrics[f"R@10 vs {demo.EXACT_NAME}"] >= 0.8
    assert f"R@10 vs {demo.EXACT_NAME}" not in exact.metrics
    for system in report.systems:
        assert 0 < system.timings["single_query_p50_ms"] <= system.timings["single_query_p95_ms"]
    assert exact.memory_bytes != muvera.memory_bytes  # each system's own index
    assert len(list((tmp_path / "cache" / "token-embeddings").glob("*.json"))) == 1  # one document pass
    assert not list((tmp_path / "cache" / "encodings").glob("*.npz"))  # not cached a second time
    section = demo.muvera_section(SimpleNamespace(report=report))
    assert "R@10 vs exact Chamfer" in section.markdown
