"""The demo's report (issue 33): ``index.html``, ``report.md`` and ``results.json`` of a small real run.

The run, on a 200-document SciFact slice (BM25 only, so it stays fast; the dense baseline is the same code
path): a step with two BM25 systems for the shared table, a step that writes two real PNG plots, a step that
raises and a step that lists an image it never wrote. Checked as a reader would: every step present, every
image there, non-empty and embedded.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from recplug import DemoSection, DemoStep, hookimpl
from recplug_eval.cpu_features import cpu_model
from recplug_eval.demo import discover_steps, run_demo
from recplug_eval.progress import PlainProgress, progress
from recplug_eval.report_html import image_links
from recplug_eval.runner import EvalConfig, SystemConfig


def _plot(path: Path, values: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(values, marker="o")
    fig.savefig(path, format="png")
    plt.close(fig)


def _plots_run(context: Any) -> DemoSection:
    ndcg = {s.name: s.metrics["nDCG@10"] for s in context.report.systems}
    _plot(Path(context.output_dir) / "plots" / "curve.png", list(ndcg.values()))
    _plot(Path(context.output_dir) / "plots" / "bars.png", [1.0, 2.0, 3.0])
    return DemoSection(
        "nDCG@10 of the shared table's systems:\n\n![curve](plots/curve.png)\n",
        results={"ndcg": ndcg},
        images=["plots/curve.png", "plots/bars.png"],  # bars.png is listed but not shown: the report adds it
        caveats=["a caveat of the plots step"],
        commands=["python -m tools.bench.example --full"],
    )


def _boom(context: Any) -> DemoSection:
    raise RuntimeError("boom | with a pipe")


class DemoTestPlugin:
    @hookimpl
    def recplug_demo_steps(self) -> list[DemoStep]:
        return [
            DemoStep("lexical", "Lexical systems", systems=lambda: [
                SystemConfig.bm25("bm25"), SystemConfig.bm25("bm25-robertson", method="robertson")], order=0),
            DemoStep("plots", "Plots from a test step", run=_plots_run, order=10),
            DemoStep("broken", "A step that raises", run=_boom, order=11),
            DemoStep("no-image", "A step without its image",
                     run=lambda ctx: DemoSection("![gone](no-image/gone.png)", images=["no-image/gone.png"]), order=12),
        ]


STEPS = ["lexical", "plots", "broken", "no-image"]


@pytest.fixture(scope="module")
def demo(scifact_slice: Path, encodings_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from recplug.manager import load_plugin_manager

    pm = load_plugin_manager()
    pm.register_plugin(DemoTestPlugin(), "demo-test", "demo-test", "0.0")
    skip = [item.name for item in discover_steps(pm) if item.name not in STEPS]
    out = tmp_path_factory.mktemp("demo")
    config = EvalConfig(dataset="beir", dataset_config={"path": str(scifact_slice)}, k=100, cache_dir=encodings_cache)
    err = io.StringIO()
    from contextlib import redirect_stderr

    with redirect_stderr(err):
        report, markdown = run_demo(out, skip=skip, eval_config=config, pm=pm)
    return {"out": out, "report": report, "markdown": markdown, "stderr": err.getvalue(),
            "html": (out / "index.html").read_text(), "json": json.loads((out / "results.json").read_text())}


def test_every_step_is_in_the_report(demo: dict[str, Any]) -> None:
    out, markdown, html = demo["out"], demo["markdown"], demo["html"]
    assert (out / "report.md").read_text() == markdown
    assert [s.name for s in demo["report"].systems] == ["bm25", "bm25-robertson"]  # one shared table
    for text in (markdown, html):
        assert "Retrieval: every system in one table" in text
        assert "Plots from a test step" in text and "nDCG@10 of the shared table" in text
        for name in ("bm25", "bm25-robertson"):
            assert re.search(rf"\| {name} +\| +0\.\d{{4}} |<td[^>]*>{name}</td>", text)
    # the failed steps: listed in the header as skipped with their one-line reason, no section of their own
    assert "skipped: RuntimeError: boom \\| with a pipe" in markdown
    assert "skipped: image no-image/gone.png does not exist" in markdown
    assert "## A step that raises" not in markdown and "## A step without its image" not in markdown


def test_every_image_exists_and_is_embedded(demo: dict[str, Any]) -> None:
    out, markdown, html = demo["out"], demo["markdown"], demo["html"]
    images = image_links(markdown)
    assert set(images) == {"plot.png", "plots/curve.png", "plots/bars.png"}
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == len(images)
    for image, source in zip(images, sources, strict=True):
        assert (out / image).stat().st_size > 0
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]) == (out / image).read_bytes()
    assert "[plots/curve.png](plots/curve.png)" in markdown  # report.md links its plots
    # self-contained: CSS inline, nothing loaded from anywhere
    assert "<style>" in html and "<link" not in html and "<script" not in html
    assert not re.search(r'src="(?!data:)', html)


def test_results_json_covers_every_step(demo: dict[str, Any]) -> None:
    saved = demo["json"]
    assert set(saved) == {"demo", "retrieval", "steps"}
    assert [s["name"] for s in saved["retrieval"]["systems"]] == ["bm25", "bm25-robertson"]
    assert saved["steps"]["plots"]["ndcg"]["bm25"] == pytest.approx(demo["report"].systems[0].metrics["nDCG@10"])
    steps = {s["name"]: s for s in saved["demo"]["steps"]}
    assert list(steps) == STEPS
    assert steps["lexical"]["systems"] == ["bm25", "bm25-robertson"] and steps["lexical"]["status"] == "ok"
    assert steps["plots"]["status"] == "ok" and steps["plots"]["run_s"] > 0
    assert steps["broken"]["status"] == "failed" and "boom" in steps["broken"]["reason"]
    assert steps["no-image"]["status"] == "failed" and "gone.png" in steps["no-image"]["reason"]
    assert saved["demo"]["commands"] == {"plots": ["python -m tools.bench.example --full"]}
    assert "`plots`: a caveat of the plots step" in saved["demo"]["caveats"]


def test_header_has_versions_machine_and_wall_times(demo: dict[str, Any]) -> None:
    saved, markdown = demo["json"]["demo"], demo["markdown"]
    header = markdown.split("## Retrieval: every system in one table")[0]
    assert "| `lexical` " in header and "| `plots` " in header  # every step in the header's table
    for library in ("recplug-eval", "torch", "faiss-cpu", "sentence-transformers"):
        assert f"{library} {saved['versions'][library]}" in header
    assert cpu_model() in header and saved["machine"]["cpu_model"] == cpu_model()
    assert "torch threads:" in header and "OMP_NUM_THREADS" in header
    from recplug_eval.cpu_features import native_bf16

    assert f"native bfloat16 GEMMs: {'yes' if native_bf16() else 'no'}" in header
    assert saved["machine"]["native_bf16"] is native_bf16()
    assert saved["wall_s"] > saved["retrieval_table_s"] > 0
    assert saved["started_utc"] < saved["finished_utc"] and " UTC**" in header
    assert "**total**" in header and "a caveat of the plots step" in header
    assert "python -m tools.bench.example --full" in header  # the command that reproduces the benchmark


def test_progress_lines_in_a_log(demo: dict[str, Any]) -> None:
    """stderr is not a terminal here: one plain line per phase, never a carriage return or cursor move."""
    lines = demo["stderr"].splitlines()
    assert "[demo 1/4] retrieval table ... 2 systems (lexical)" in lines
    assert any(re.fullmatch(r"\[demo 2/4\] plots done in \d+\.\d s", line) for line in lines)
    assert any(line.startswith("[demo 3/4] broken failed after") for line in lines)
    assert "\r" not in demo["stderr"] and "\x1b[" not in demo["stderr"]


def test_plain_progress_prints_quarters() -> None:
    log = io.StringIO()
    with progress(total=8, desc="encode", unit="text", file=log) as bar:  # a StringIO is not a terminal
        assert isinstance(bar, PlainProgress)
        for _ in range(8):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert lines[0] == "encode: start (8 text)"
    assert [line.split(" (")[0] for line in lines[1:4]] == ["encode: 2/8 text", "encode: 4/8 text", "encode: 6/8 text"]
    assert re.fullmatch(r"encode: done \(8 text, \d+\.\d s\)", lines[4]) and len(lines) == 5
    epoch = io.StringIO()  # a transient bar (one per epoch): only its done line, with the last postfix
    bar = progress(range(4), desc="epoch 1/2", leave=False, file=epoch)
    for step in bar:
        bar.set_postfix(loss=f"{1 / (step + 1):.2f}")
    assert re.fullmatch(r"epoch 1/2: done \(4 it, \d+\.\d s\), loss=0.25\n", epoch.getvalue())
    quiet = io.StringIO()
    assert list(progress(range(3), desc="x", file=quiet, disable=True)) == [0, 1, 2] and quiet.getvalue() == ""
