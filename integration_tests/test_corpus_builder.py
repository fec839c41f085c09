"""The large-corpus builder of issue 34 (tools/bench/muvera/build_corpus.py): page parsing, passage cutting, the
query split, and one real build from gzipped manual pages rendered by groff."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_corpus", ROOT / "tools" / "bench" / "muvera" / "build_corpus.py")
assert spec is not None and spec.loader is not None
build_corpus = sys.modules["build_corpus"] = importlib.util.module_from_spec(spec)  # dataclasses look it up there
spec.loader.exec_module(build_corpus)

RENDERED = """LS(1)                 User Commands                 LS(1)

NAME
       ls - list directory contents
       dir - the same, another name

DESCRIPTION
       List information about the FILEs (the current directory by default).
       Sort entries alphabetically.

       -a, --all
              do not ignore entries starting with .

GNU coreutils 9.1            September 2022                  LS(1)
"""


def test_a_rendered_page_gives_its_summary_and_paragraphs_without_header_headings_or_name():
    page = build_corpus.parse("ls.1", RENDERED)
    assert page.summary == "list directory contents"  # the NAME section's first line, after the dash
    assert page.paragraphs == (
        "List information about the FILEs (the current directory by default). Sort entries alphabetically.",
        "-a, --all do not ignore entries starting with .",
    )


def test_passages_keep_every_word_in_order_and_stay_near_the_size():
    words = [f"w{i}" for i in range(1000)]
    paragraphs = (" ".join(words[:30]), " ".join(words[30:400]), " ".join(words[400:410]), " ".join(words[410:]))
    cut = list(build_corpus.passages(build_corpus.Page("x.1", "", paragraphs), 75))
    assert " ".join(cut).split() == words
    assert all(len(p.split()) <= 75 for p in cut)
    assert sum(len(p.split()) < 25 for p in cut) <= 1  # only the page's last passage may be short


def test_the_query_split_is_seeded_and_near_its_share():
    names = [f"page{i}.1" for i in range(20000)]
    held = [n for n in names if build_corpus.held_out(n, 0.01, seed=0)]
    assert held == [n for n in names if build_corpus.held_out(n, 0.01, seed=0)]
    assert 150 < len(held) < 250
    assert held != [n for n in names if build_corpus.held_out(n, 0.01, seed=1)]


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (apt-get install groff-base)")
def test_a_build_from_real_pages_writes_a_beir_folder(tmp_path):
    root = tmp_path / "man"
    (root / "man1").mkdir(parents=True)
    for i in range(12):
        body = " ".join(f"word{i}x{j}" for j in range(200))
        roff = f'.TH TOOL{i} 1\n.SH NAME\ntool{i} \\- does thing number {i} well\n.SH DESCRIPTION\n{body}\n.PP\nsee also\n'
        (root / "man1" / f"tool{i}.1.gz").write_bytes(gzip.compress(roff.encode()))
    (root / "man1" / "alias.1.gz").write_bytes(gzip.compress(b".so man1/tool0.1\n"))  # an alias page: skipped
    out = tmp_path / "corpus"
    build_corpus.main(["--root", str(root), "--out", str(out), "--query-share", "0.3", "--jobs", "1", "--no-python"])
    corpus = [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pages"] == 13 and manifest["rendered"] == 12  # the alias page renders to nothing
    held = {q["_id"] for q in queries}
    assert held and all(q["text"].startswith("does thing number") for q in queries)
    assert not held & {row["title"] for row in corpus}  # a held-out page has no passage in the corpus
    assert len({row["_id"] for row in corpus}) == len(corpus) == manifest["passages"]
    assert all(row["text"].split()[0].startswith("word") or row["text"] == "see also" for row in corpus)
    assert manifest["minilm_tokens_per_passage"]["mean"] > 0
    assert manifest["command"].endswith("--out DIR") and str(out) not in manifest["command"]  # no machine's folder

    # `recplug eval` runs the built folder as it is (no qrels): quality is the overlap with a reference system's run
    from recplug.cli.main import main as recplug

    report = tmp_path / "eval"
    assert recplug(["eval", "--dataset", "beir", "--dataset-config", f"path={out}", "--bm25", "--encoder", "minilm",
                    "--name", "minilm", "--reference", "bm25", "--k", "5", "--no-cache", "--latency-queries", "0",
                    "--out", str(report)]) == 0
    results = json.loads((report / "results.json").read_text())
    minilm = next(s for s in results["systems"] if s["name"] == "minilm")
    assert set(minilm["metrics"]) == {"R@5 vs bm25"} and 0.0 <= minilm["metrics"]["R@5 vs bm25"] <= 1.0
    assert results["dataset"]["split"] is None and results["dataset"]["judged_queries"] == len(queries)
    # the committed exact-vs-MUVERA configuration runs on it too (tools/bench/muvera/README.md)
    assert recplug(["eval", "--config", str(ROOT / "tools" / "bench" / "muvera" / "exact-vs-muvera.toml"), "--dataset",
                    "beir", "--dataset-config", f"path={out}", "--k", "5", "--no-cache", "--out", str(report)]) == 0
    muvera = json.loads((report / "results.json").read_text())["systems"][1]
    assert muvera["name"] == "muvera-hnsw-n200" and muvera["metrics"]["R@5 vs exact-chamfer"] > 0.5
    # the scale benchmark reads the same folder: nested samples, both systems, JSON + markdown + plot
    scale_spec = importlib.util.spec_from_file_location("scale", ROOT / "tools" / "bench" / "muvera" / "scale.py")
    assert scale_spec is not None and scale_spec.loader is not None
    scale = importlib.util.module_from_spec(scale_spec)
    scale_spec.loader.exec_module(scale)
    scale.main(["--corpus", str(out), "--sizes", "4", "8", "--k", "3", "--latency-seconds", "0.01",
                "--candidates", "2", "6", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "scale")])
    rows = json.loads((tmp_path / "scale" / "results.json").read_text())["rows"]
    assert [r["documents"] for r in rows] == [4, 8] and rows[0]["token_vectors"] < rows[1]["token_vectors"]
    for row in rows:
        assert set(row["systems"]) == {"exact-chamfer", "muvera-n2", "muvera-n6"}
        for name in ("muvera-n2", "muvera-n6"):
            assert 0.0 <= row["systems"][name]["R@10 vs exact"] <= 1.0 and row["systems"][name]["memory_bytes"] > 0
        assert row["systems"]["exact-chamfer"]["peak_rss_bytes"] > 0
        assert row["cheapest_at_target"] in (None, "muvera-n2", "muvera-n6")
    assert len(list((tmp_path / "work").glob("sample-*.values.npy"))) == 1  # the memory-mapped sample, written once
    for png in ("cost_growth.png", "recall_latency.png"):
        assert (tmp_path / "scale" / png).stat().st_size > 0
    assert "| documents " in (tmp_path / "scale" / "results.md").read_text()
    # several FAISS indexes of the FDEs, each built and searched, named by their factory
    scale.main(["--corpus", str(out), "--sizes", "8", "--k", "3", "--latency-seconds", "0.01", "--candidates", "6",
                "--factories", "Flat", "HNSW32,SQ8", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "two")])
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert set(two["rows"][0]["systems"]) == {"exact-chamfer", "muvera-flat-n6", "muvera-hnsw32-sq8-n6"}
    assert two["rows"][0]["systems"]["muvera-flat-n6"]["config"]["faiss_factory"] == "Flat"
    assert "ef_search" not in two["rows"][0]["systems"]["muvera-flat-n6"]["config"]  # HNSW's option, not Flat's
    assert two["setup"]["factories"] == ["Flat", "HNSW32,SQ8"] and "--factories Flat HNSW32,SQ8" in two["setup"]["command"]
    # the FDE candidates' own recall of the exact top 10, per FAISS index, on the same sample
    from tools.bench.muvera import fde_candidates

    fde_candidates.main(["--corpus", str(out), "--size", "8", "--sample", "8", "--factories", "Flat", "HNSW32,SQ8",
                         "--depths", "2", "8", "--ef-search", "16", "--work", str(tmp_path / "work"),
                         "--out", str(tmp_path / "fde")])
    found = json.loads((tmp_path / "fde" / "results.json").read_text())["systems"]
    assert set(found) == {"Flat", "HNSW32,SQ8 ef16"}
    assert found["Flat"]["recall"]["8"] == 1.0  # every document is a candidate: the whole exact top 10 is there
    assert all(0.0 <= r <= 1.0 for entry in found.values() for r in entry["recall"].values())
    assert "| FAISS index of the FDEs " in (tmp_path / "fde" / "results.md").read_text()


def test_pages_of_one_name_get_unique_ids(tmp_path):
    """A property's getter and setter both document ``host``: two pages of one name, two distinct ids."""
    package = tmp_path / "py" / "pkg"
    package.mkdir(parents=True)
    getter = " ".join(f"get{i}" for i in range(30))
    setter = " ".join(f"set{i}" for i in range(30))
    (package / "conn.py").write_text(f'class C:\n    @property\n    def host(self):\n        """{getter}"""\n\n'
                                     f'    @host.setter\n    def host(self, value):\n        """{setter}"""\n')
    corpus, _, counts = build_corpus.build([], 75, 0.01, 0, 1, [(package / "conn.py", tmp_path / "py")])
    ids = [row["_id"] for row in corpus]
    assert counts["docstrings"] == 2 and ids == ["py:pkg.conn:C.host#0", "py:pkg.conn:C.host~2#0"]


def test_docstrings_become_pages_of_their_own(tmp_path):
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    long = " ".join(f"word{i}" for i in range(30))
    source.write_text(f'"""{long}\n\nSecond paragraph."""\n\nclass A:\n    """too short"""\n\n'
                      f'    def f(self):\n        """{long}"""\n')
    pages = build_corpus.docstring_pages(source, tmp_path)
    assert [p.name for p in pages] == ["py:pkg.mod:<module>", "py:pkg.mod:A.f"]  # the short docstring is left out
    assert pages[0].paragraphs == (long, "Second paragraph.")
    (tmp_path / "bad.py").write_text("def (:\n")
    assert build_corpus.docstring_pages(tmp_path / "bad.py", tmp_path) == []  # unparsable: nothing, no error
