"""BEIR loader: SciFact counts, both corpus forms, registration, and strict errors on malformed input."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from recplug import load_plugin_manager
from recplug.errors import ConfigError, InvalidInputError
from recplug.protocols import RetrievalDataset
from recplug_eval.datasets.beir import BeirDataset, document_texts, write_beir


def test_scifact_counts_match_beir(scifact: BeirDataset) -> None:
    assert isinstance(scifact, RetrievalDataset)
    assert scifact.splits == ("test", "train")
    corpus, queries = scifact.corpus(), scifact.queries()
    assert corpus.columns == ["doc_id", "title", "text"] and corpus.height == 5183
    assert queries.columns == ["query_id", "text"] and queries.height == 1109
    test, train = scifact.qrels("test"), scifact.qrels("train")
    assert test.columns == ["query_id", "doc_id", "relevance"] and test.schema["relevance"] == pl.Int64
    assert (test.height, test["query_id"].n_unique()) == (339, 300)
    assert (train.height, train["query_id"].n_unique()) == (919, 809)
    assert scifact.split_queries("test").height == 300
    assert corpus["doc_id"].n_unique() == 5183


def test_registered_components(scifact_path: Path) -> None:
    pm = load_plugin_manager()
    default = pm.create("dataset", "scifact")
    assert default.path == scifact_path and default.name == "scifact"
    generic = pm.create("dataset", "beir", path=scifact_path)
    assert generic.name == "scifact" and generic.qrels("test").height == 339
    with pytest.raises(ConfigError, match="path"):
        pm.create("dataset", "beir")


def test_plain_and_gzip_corpus_read_the_same(scifact_slice: Path, tmp_path: Path) -> None:
    plain = BeirDataset(scifact_slice)
    shutil.copytree(scifact_slice, tmp_path / "gz")
    raw = (tmp_path / "gz" / "corpus.jsonl").read_bytes()
    (tmp_path / "gz" / "corpus.jsonl").unlink()
    (tmp_path / "gz" / "corpus.jsonl.gz").write_bytes(gzip.compress(raw))
    packed = BeirDataset(tmp_path / "gz")
    assert packed.corpus_path.name == "corpus.jsonl.gz"
    assert packed.corpus().equals(plain.corpus())
    assert plain.corpus().height == 200
    assert plain.qrels("test")["query_id"].n_unique() == 30


def test_document_texts_join_title_and_text() -> None:
    corpus = pl.DataFrame({"doc_id": ["a", "b"], "title": ["T", ""], "text": ["x y", "z"]})
    assert document_texts(corpus) == ["T x y", "z"]


# ------------------------------------------------------------------------------------------ malformed


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    corpus = pl.DataFrame({"doc_id": ["d1", "d2", "d3"], "title": ["A", "B", ""], "text": ["one", "two", "three"]})
    queries = pl.DataFrame({"query_id": ["q1", "q2"], "text": ["first?", "second?"]})
    qrels = pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d1", "d3"], "relevance": [1, 2]})
    return write_beir(tmp_path / "tiny", corpus, queries, {"test": qrels})


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_tiny_round_trip(tiny: Path) -> None:
    data = BeirDataset(tiny)
    assert data.corpus()["doc_id"].to_list() == ["d1", "d2", "d3"]
    assert data.qrels("test")["relevance"].to_list() == [1, 2]


def test_missing_files(tiny: Path) -> None:
    (tiny / "corpus.jsonl").unlink()
    with pytest.raises(InvalidInputError, match=r"corpus\.jsonl .*missing"):
        BeirDataset(tiny).corpus()
    shutil.rmtree(tiny / "qrels")
    assert BeirDataset(tiny).splits == ()  # an unjudged corpus: evaluated against a reference system only
    with pytest.raises(ConfigError, match="no judgments"):
        BeirDataset(tiny).qrels("test")
    with pytest.raises(InvalidInputError, match="missing"):
        BeirDataset(tiny / "nowhere")


def test_missing_queries_file(tiny: Path) -> None:
    (tiny / "queries.jsonl").unlink()
    with pytest.raises(InvalidInputError, match=r"queries\.jsonl: file is missing"):
        BeirDataset(tiny).queries()


def test_bad_json_line_names_file_and_line(tiny: Path) -> None:
    lines = _lines(tiny / "corpus.jsonl")
    lines[1] = '{"_id": "d2", "title": "B", "text": "two"'
    _write(tiny / "corpus.jsonl", lines)
    with pytest.raises(InvalidInputError, match=r"corpus\.jsonl:2: not valid JSON"):
        BeirDataset(tiny).corpus()


def test_non_object_line(tiny: Path) -> None:
    _write(tiny / "queries.jsonl", [*_lines(tiny / "queries.jsonl"), "[1, 2]"])
    with pytest.raises(InvalidInputError, match=r"queries\.jsonl:3: expected a JSON object"):
        BeirDataset(tiny).queries()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"title": "B", "text": "two"}, "missing field '_id'"),
        ({"_id": "d2", "title": "B"}, "missing field 'text'"),
        ({"_id": "d2", "title": "B", "text": 7}, "field 'text' must be a string"),
        ({"_id": "d1", "title": "B", "text": "dup"}, "duplicate document id 'd1' \\(first at line 1\\)"),
    ],
)
def test_bad_corpus_records(tiny: Path, record: dict, message: str) -> None:
    lines = _lines(tiny / "corpus.jsonl")
    lines[1] = json.dumps(record)
    _write(tiny / "corpus.jsonl", lines)
    with pytest.raises(InvalidInputError, match=rf"corpus\.jsonl:2: {message}"):
        BeirDataset(tiny).corpus()


def test_duplicate_query_id(tiny: Path) -> None:
    _write(tiny / "queries.jsonl", [*_lines(tiny / "queries.jsonl"), json.dumps({"_id": "q1", "text": "again"})])
    with pytest.raises(InvalidInputError, match=r"queries\.jsonl:3: duplicate query id 'q1'"):
        BeirDataset(tiny).queries()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("q9\td1\t1", "unknown query id 'q9'"),
        ("q1\td1\tyes", "score 'yes' is not an integer"),
        ("q1\td1", "expected 3 tab-separated columns"),
        ("q1\td1\t1", "duplicate judgment"),
    ],
)
def test_bad_qrels_rows(tiny: Path, row: str, message: str) -> None:
    lines = _lines(tiny / "qrels" / "test.tsv")
    _write(tiny / "qrels" / "test.tsv", [*lines, row])
    with pytest.raises(InvalidInputError, match=rf"test\.tsv:4: {message}"):
        BeirDataset(tiny).qrels("test")


def test_qrels_header_required(tiny: Path) -> None:
    lines = _lines(tiny / "qrels" / "test.tsv")
    _write(tiny / "qrels" / "test.tsv", lines[1:])
    with pytest.raises(InvalidInputError, match=r"test\.tsv:1: expected the header"):
        BeirDataset(tiny).qrels("test")


def test_qrels_header_may_have_other_names(tiny: Path) -> None:
    """BEIR reads the first line as the header whatever it says; so does this loader."""
    lines = _lines(tiny / "qrels" / "test.tsv")
    _write(tiny / "qrels" / "test.tsv", ["qid\tdocid\trelevance", *lines[1:]])
    assert BeirDataset(tiny).qrels("test")["relevance"].to_list() == [1, 2]


def test_judgments_of_documents_not_in_the_corpus_are_kept_and_counted(tiny: Path) -> None:
    """As in beir (ArguAna's qrels judge one document its corpus lacks): relevant, never retrievable."""
    _write(tiny / "qrels" / "test.tsv", [*_lines(tiny / "qrels" / "test.tsv"), "q1\td9\t1", "q2\td8\t0"])
    data = BeirDataset(tiny)
    assert data.qrels("test")["doc_id"].to_list() == ["d1", "d3", "d9", "d8"]
    assert data.load_notes == {"test.tsv: judgments of documents not in the corpus (kept)": 2}


def test_byte_order_mark_is_dropped(tiny: Path) -> None:
    for name in ("queries.jsonl", "qrels/test.tsv"):
        (tiny / name).write_bytes(b"\xef\xbb\xbf" + (tiny / name).read_bytes())
    data = BeirDataset(tiny)
    assert data.queries()["query_id"].to_list() == ["q1", "q2"] and data.qrels("test").height == 2


def test_unknown_split(tiny: Path) -> None:
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        BeirDataset(tiny).qrels("dev")


def test_blank_lines_and_missing_titles_are_counted_not_hidden(tiny: Path) -> None:
    lines = _lines(tiny / "corpus.jsonl")
    lines.insert(1, "")
    lines.append(json.dumps({"_id": "d4", "text": "four"}))
    _write(tiny / "corpus.jsonl", lines)
    data = BeirDataset(tiny)
    assert data.corpus().height == 4
    assert data.corpus().filter(pl.col("doc_id") == "d4")["title"].item() == ""
    assert data.load_notes == {"corpus.jsonl: blank lines skipped": 1, "corpus.jsonl: documents without title": 1}


def test_truncated_gzip_is_an_error(tiny: Path) -> None:
    raw = gzip.compress((tiny / "corpus.jsonl").read_bytes())
    (tiny / "corpus.jsonl").unlink()
    (tiny / "corpus.jsonl.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InvalidInputError, match=r"corpus\.jsonl\.gz"):
        BeirDataset(tiny).corpus()


@pytest.mark.parametrize(("file", "line"), [("qrels/test.tsv", 3), ("queries.jsonl", 2), ("corpus.jsonl", 3)])
def test_non_utf8_byte_names_file_and_line(tiny: Path, file: str, line: int) -> None:
    path = tiny / file
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = lines[line - 1].replace(b"d", b"d\xff", 1).replace(b"second", b"sec\xffond")
    path.write_bytes(b"\n".join(lines))
    data = BeirDataset(tiny)
    with pytest.raises(InvalidInputError, match=rf"{file.split('/')[-1]}:{line}: not UTF-8 text \(byte 0xff at column"):
        data.qrels("test") if file.startswith("qrels") else data.queries() if file.startswith("q") else data.corpus()


def test_option_types_are_checked(tiny: Path) -> None:
    pm = load_plugin_manager()
    with pytest.raises(ConfigError, match=r"dataset 'beir': option 'path' must be a path \(a string\), got int 123"):
        pm.create("dataset", "beir", path=123)
    with pytest.raises(ConfigError, match=r"dataset 'scifact': option 'path' must be a path"):
        pm.create("dataset", "scifact", path=["a"])
    with pytest.raises(ConfigError, match=r"option 'name' must be a string, got int 5"):
        BeirDataset(tiny, name=5)
