"""`recplug eval` / `recplug demo` through the real command line, option parsing, demo step registry."""

from __future__ import annotations

import json
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from recplug.cli.main import main
from recplug.errors import ConfigError
from recplug_eval.demo import DemoStep, discover_steps, run_demo, select_steps
from recplug_eval.options import parse_config_items
from recplug_eval.runner import EvalConfig


def test_config_items(tmp_path: Path) -> None:
    toml = tmp_path / "enc.toml"
    toml.write_text('batch_size = 8\nmodel = "x"\n')
    config = parse_config_items(["normalize=false", "k1=1.2", "name=abc", str(toml), "batch_size=16", "ids=[1, 2]"])
    assert config == {"normalize": False, "k1": 1.2, "name": "abc", "model": "x", "batch_size": 16, "ids": [1, 2]}
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_config_items(["oops"])
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_config_items([str(bad)])


def test_eval_command_writes_report(scifact_slice: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "eval"
    code = main(
        [
            "eval", "--dataset", "beir", "--dataset-config", f"path={scifact_slice}", "--bm25",
            "--bm25-config", "k1=1.2", "--measures", "nDCG@10,MRR@10,MAP", "-k", "50", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "| bm25" in printed and "RR@10" in printed
    saved = json.loads((out / "results.json").read_text())
    (system,) = saved["systems"]
    assert set(system["metrics"]) == {"nDCG@10", "RR@10", "AP"}
    assert system["config"]["k1"] == 1.2 and saved["config"]["k"] == 50
    assert {p.name for p in out.iterdir()} == {"results.json", "results.md", "plot.png", "runs", "per_query"}
    assert (out / "runs" / "bm25.trec").read_text().count("\n") == 30 * 50
    per_query = (out / "per_query" / "bm25.tsv").read_text().splitlines()
    assert per_query[0].split("\t") == ["query_id", "nDCG@10", "RR@10", "AP"] and len(per_query) == 1 + 30
    mean = sum(float(line.split("\t")[1]) for line in per_query[1:]) / 30
    assert mean == pytest.approx(system["metrics"]["nDCG@10"])


def test_eval_scores_an_existing_trec_run(scifact_slice: Path, tmp_path: Path) -> None:
    """Issue 31: `recplug eval --run FILE` scores a run written earlier (or by another tool), as it is."""
    common = ["eval", "--dataset", "beir", "--dataset-config", f"path={scifact_slice}", "--measures", "nDCG@10,R@10"]
    assert main([*common, "--bm25", "-k", "20", "--out", str(tmp_path / "a")]) == 0
    run = tmp_path / "a" / "runs" / "bm25.trec"
    assert main([*common, "--run", str(run), "-k", "10", "--out", str(tmp_path / "b")]) == 0
    first = json.loads((tmp_path / "a" / "results.json").read_text())["systems"][0]["metrics"]
    (scored,) = json.loads((tmp_path / "b" / "results.json").read_text())["systems"]
    assert scored["name"] == "bm25" and scored["config"]["kind"] == "run"
    assert scored["metrics"] == pytest.approx(first)  # the run's top 10 of 20 give the same @10 measures
    assert main([*common, "--run", str(tmp_path / "missing.trec"), "--out", str(tmp_path / "c")]) == 1


def test_eval_command_from_toml(scifact_slice: Path, tmp_path: Path) -> None:
    config = tmp_path / "plan.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [eval]
            dataset = "beir"
            dataset_config = {{ path = "{scifact_slice}" }}
            k = 10
            measures = ["nDCG@10"]

            [[systems]]
            name = "lucene"
            kind = "bm25"

            [[systems]]
            name = "robertson"
            kind = "bm25"
            bm25_config = {{ method = "robertson", k1 = 1.2 }}
            """
        )
    )
    assert main(["eval", "--config", str(config), "--out", str(tmp_path / "o")]) == 0
    saved = json.loads((tmp_path / "o" / "results.json").read_text())
    assert [s["name"] for s in saved["systems"]] == ["lucene", "robertson"]
    assert saved["systems"][1]["config"]["method"] == "robertson"


def test_eval_command_errors_are_reported(capsys: pytest.CaptureFixture) -> None:
    assert main(["eval"]) == 1
    assert "nothing to evaluate" in capsys.readouterr().err
    assert main(["eval", "--bm25", "--measures", "bogus@1"]) == 1
    assert "unknown retrieval measure 'bogus@1'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- demo

PLUGIN_SOURCE = '''
from recplug import DemoStep, hookimpl


def _systems():
    from recplug_eval.runner import SystemConfig

    return [SystemConfig.bm25("bm25-robertson", method="robertson")]


def _fails(context):
    raise RuntimeError("boom")


@hookimpl
def recplug_demo_steps():
    return [
        DemoStep(
            name="extra",
            title="An extra section",
            systems=_systems,
            run=lambda ctx: f"systems so far: {[s.name for s in ctx.report.systems]}",
        ),
        DemoStep(name="bad", title="A step that fails", run=_fails, order=200),
    ]
'''


@pytest.fixture
def demo_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The installed plugins plus a fake one whose ``recplug_demo_steps`` hook adds two steps."""
    from recplug.manager import load_plugin_manager

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "fake_demo_plugin.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return load_plugin_manager(entry_points=[*metadata.entry_points(group="recplug"),
                                             metadata.EntryPoint("good", "fake_demo_plugin", "recplug")])


def test_demo_steps_come_from_the_hook(demo_manager) -> None:
    loaded = discover_steps(demo_manager)
    names = [item.name for item in loaded]
    assert names[0] == "baselines" and names[-2:] == ["extra", "bad"]  # by (order, name)
    assert {item.name: item.source for item in loaded}["baselines"] == "recplug-eval"
    with pytest.raises(ConfigError, match="unknown demo step"):
        select_steps(loaded, only=["nope"])
    with pytest.raises(ConfigError, match="neither systems nor run"):
        DemoStep("empty", "nothing")


def test_demo_runs_plugin_steps_and_reports_failures(demo_manager, scifact_slice: Path, tmp_path: Path) -> None:
    config = EvalConfig(dataset="beir", dataset_config={"path": str(scifact_slice)}, k=10)
    out = tmp_path / "demo"
    only = ["extra", "bad"]
    with pytest.raises(RuntimeError, match="boom"):  # a step asked for by name fails loudly
        run_demo(out, only=only, eval_config=config, pm=demo_manager)
    skip = [item.name for item in discover_steps(demo_manager) if item.name not in only]
    report, markdown = run_demo(out, skip=skip, eval_config=config, pm=demo_manager)
    assert [s.name for s in report.systems] == ["bm25-robertson"]
    assert "## An extra section" in markdown and "systems so far: ['bm25-robertson']" in markdown
    assert "`bad`" in markdown and "boom" in markdown
    assert (out / "report.md").read_text() == markdown and (out / "index.html").exists()
    assert (out / "plot.png").exists() and (out / "runs" / "bm25-robertson.trec").exists()


def test_demo_list(capsys: pytest.CaptureFixture) -> None:
    assert main(["demo", "--list"]) == 0
    assert "baselines" in capsys.readouterr().out


def test_the_demo_command_bounds_one_query_timing(monkeypatch, tmp_path: Path) -> None:
    import recplug_eval.demo as demo_module
    from recplug_eval.demo import DEMO_LATENCY_SECONDS

    seen = {}

    def fake_run_demo(out, only=(), skip=(), eval_config=None, pm=None):
        seen["config"] = eval_config
        return None, {}

    monkeypatch.setattr(demo_module, "run_demo", fake_run_demo)
    assert main(["demo", "--out", str(tmp_path / "demo"), "--max-queries", "7"]) == 0
    config = seen["config"]  # the command's table is the one run_demo makes by default
    assert config.latency_seconds == DEMO_LATENCY_SECONDS and config.max_queries == 7
    assert config == demo_module.demo_eval_config(max_queries=7)


def test_eval_plan_for_an_encoder_system(tmp_path: Path) -> None:
    from recplug.cli.main import build_parser
    from recplug_eval.cli import eval_plan

    enc = tmp_path / "enc.json"
    enc.write_text('{"batch_size": 8}')
    parser, _ = build_parser()
    args = parser.parse_args(
        ["eval", "--encoder", "minilm", "--encoder-config", str(enc), "--encoder-config", "max_seq_length=128",
         "--index", "exact", "--index-config", "metric=cosine", "--rerank-encoder", "minilm", "--rerank-depth", "20",
         "--max-queries", "5", "--no-cache"]
    )  # fmt: skip
    config, (system,) = eval_plan(args)
    assert (config.dataset, config.split, config.max_queries, config.use_cache) == ("scifact", "test", 5, False)
    assert system.name == "minilm+exact" and system.kind == "encoder"
    assert system.encoder_config == {"batch_size": 8, "max_seq_length": 128}
    assert system.index_config == {"metric": "cosine"} and system.rerank_depth == 20


def test_eval_plan_reference_and_latency_options() -> None:
    from recplug.cli.main import build_parser
    from recplug_eval.cli import eval_plan

    parser, _ = build_parser()
    args = parser.parse_args(["eval", "--bm25", "--encoder", "minilm", "--reference", "bm25", "--latency-queries", "0"])
    config, (bm25, dense) = eval_plan(args)
    assert config.latency_queries == 0 and dense.reference == "bm25" and bm25.reference is None
    config, _ = eval_plan(parser.parse_args(["eval", "--bm25", "--latency-seconds", "2.5"]))
    assert config.latency_seconds == 2.5 and config.latency_queries == 100


# ------------------------------------------------------------------------------- one-line user errors


@pytest.fixture
def tiny_beir(tmp_path: Path) -> Path:
    import polars as pl
    from recplug_eval.datasets.beir import write_beir

    corpus = pl.DataFrame({"doc_id": ["d1", "d2", "d3"], "title": ["A", "B", ""], "text": ["one", "two", "three"]})
    queries = pl.DataFrame({"query_id": ["q1", "q2"], "text": ["first?", "second?"]})
    qrels = pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d1", "d3"], "relevance": [1, 2]})
    return write_beir(tmp_path / "tiny", corpus, queries, {"test": qrels})


def _error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("recplug: error: ")
    return line


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset-config", "pth={tiny}"], "unknown option 'pth' for dataset 'beir'. Did you mean 'path'?"),
        (["--dataset-config", "path=123"], "dataset 'beir': option 'path' must be a path (a string), got int 123"),
        (["--dataset-config", "path={tiny}", "--dataset-config", "name=[1]"], "option 'name' must be a string"),
        # an interaction dataset is refused by its record's kind, before it is built (or downloaded)
        (["--dataset", "files", "--dataset-config", "path=3"], "dataset 'files' is an interactions dataset; evaluation"),
        (["--dataset", "ml-100k", "--dataset-config", "cache_dir=7"], "dataset 'ml-100k' is an interactions dataset"),
        (["--dataset-config", "path={tiny}", "--out", "{file}"], "--out {file}: exists and is not a folder"),
        (["--dataset-config", "path={tiny}", "--config", "{tiny}"], "cannot read config file"),
    ],
)
def test_eval_user_errors_are_one_line(
    tiny_beir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
    extra: list[str], message: str,
) -> None:
    monkeypatch.delenv("RECPLUG_DEBUG", raising=False)
    (tmp_path / "file").write_text("not a folder")
    fill = {"tiny": tiny_beir, "file": tmp_path / "file"}
    args = ["eval", "--dataset", "beir", "--bm25", "--out", str(tmp_path / "out"), *(a.format(**fill) for a in extra)]
    assert main(args) == 1
    assert message.format(**fill) in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_eval_non_utf8_qrels_names_file_and_line(tiny_beir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("RECPLUG_DEBUG", raising=False)
    qrels = tiny_beir / "qrels" / "test.tsv"
    qrels.write_bytes(qrels.read_bytes().replace(b"q2\t", b"q\xe92\t"))
    args = ["eval", "--dataset", "beir", "--dataset-config", f"path={tiny_beir}", "--bm25", "--out", str(tmp_path / "o")]
    assert main(args) == 1
    assert f"{qrels}:3: not UTF-8 text (byte 0xe9 at column 2)" in _error_line(capsys)
    assert main([*args, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("recplug: error: ")


@pytest.mark.parametrize("flag", ["--max-queries", "-k", "--rerank-depth"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_eval_counts_must_be_positive(flag: str, value: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["eval", "--bm25", flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--max-queries", "0"])


def test_eval_config_checks_counts() -> None:
    from recplug_eval.runner import SystemConfig

    with pytest.raises(ConfigError, match="eval: max_queries must be an integer >= 1, got 0"):
        EvalConfig(max_queries=0)
    with pytest.raises(ConfigError, match="eval: k must be an integer >= 1, got '10'"):
        EvalConfig(k="10")
    with pytest.raises(ConfigError, match="rerank_depth must be an integer >= 1"):
        SystemConfig(name="s", encoder="minilm", rerank_depth=0)
    with pytest.raises(ConfigError, match="encoder_config must be a table"):
        SystemConfig(name="s", encoder="minilm", encoder_config="batch_size=8")


# ------------------------------------------------------------------------ demo steps follow the plugins

DIST_NAME = "fake-demo-dist"


@pytest.fixture
def installed_demo_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A distribution on sys.path whose ``recplug`` plugin has a ``recplug_demo_steps`` hook."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "fake_demo_plugin.py").write_text(PLUGIN_SOURCE)
    info = site / "fake_demo_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[recplug]\nfake-demo = fake_demo_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    for variable in ("RECPLUG_BLOCK_PLUGINS", "RECPLUG_DISABLE_PLUGIN_AUTOLOAD", "RECPLUG_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    return "fake-demo"


def test_demo_steps_honour_blocked_and_not_autoloaded_plugins(installed_demo_plugin: str, monkeypatch) -> None:
    assert "extra" in {s.name for s in discover_steps()}
    monkeypatch.setenv("RECPLUG_BLOCK_PLUGINS", installed_demo_plugin)
    assert "extra" not in {s.name for s in discover_steps()}
    monkeypatch.delenv("RECPLUG_BLOCK_PLUGINS")
    monkeypatch.setenv("RECPLUG_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "extra" not in {s.name for s in discover_steps()}  # (recplug-eval's own baselines are off too)
    monkeypatch.setenv("RECPLUG_PLUGINS", installed_demo_plugin)  # asked for by name: loaded again
    assert "extra" in {s.name for s in discover_steps()}
