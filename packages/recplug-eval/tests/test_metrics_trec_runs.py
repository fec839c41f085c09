"""Run frames and TREC run files: ranking, round trip, atomic write, bad lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from recplug.errors import InvalidInputError
from recplug.protocols import SearchResult
from recplug_eval.runs import read_trec_run, run_from_search, write_trec_run


def _result() -> SearchResult:
    ids = np.array([["d2", "d1", ""], ["d3", "d1", "d2"]])
    scores = np.array([[2.0, 1.0, -np.inf], [0.5, 0.5, 0.1]], np.float32)
    return SearchResult(ids=ids, scores=scores)


def test_run_from_search_drops_empty_slots_and_ranks() -> None:
    run = run_from_search(["q1", "q2"], _result())
    assert run.columns == ["query_id", "doc_id", "score", "rank"]
    assert run.height == 5
    assert run.filter(pl.col("query_id") == "q1")["doc_id"].to_list() == ["d2", "d1"]
    # ties broken by doc id, ranks restart per query
    assert run.filter(pl.col("query_id") == "q2")["doc_id"].to_list() == ["d1", "d3", "d2"]
    assert run["rank"].to_list() == [1, 2, 1, 2, 3]


def test_run_from_search_shape_mismatch() -> None:
    with pytest.raises(InvalidInputError, match="do not fit 3 queries"):
        run_from_search(["a", "b", "c"], _result())


def test_trec_round_trip(tmp_path: Path) -> None:
    run = run_from_search(["q1", "q2"], _result())
    path = write_trec_run(run, tmp_path / "runs" / "x.trec", tag="sys-1")
    first = path.read_text().splitlines()[0].split()
    assert first == ["q1", "Q0", "d2", "1", "2.000000", "sys-1"]
    back = read_trec_run(path)
    assert back["doc_id"].to_list() == run["doc_id"].to_list()
    assert back["rank"].to_list() == run["rank"].to_list()
    np.testing.assert_allclose(back["score"].to_numpy(), run["score"].to_numpy(), atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["x.trec"]  # no temp files left


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "x.trec"
    path.write_text("q 0 d 1 1.0 old\n")
    bad = pl.DataFrame({"query_id": ["q"], "doc_id": ["d"], "score": ["not a number"], "rank": [1]})
    with pytest.raises(ValueError):
        write_trec_run(bad, path)
    assert path.read_text() == "q 0 d 1 1.0 old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.trec"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("q1 Q0 d1 1 0.5", "expected 6 columns, got 5"),
        ("q1 Q0 d1 1 high t", "score 'high' is not a number"),
        ("q1 Q0 d1 1 0.5 t extra", "expected 6 columns, got 7"),
        ("q1 Q0 d1 1 nan t", "score 'nan' is not finite"),
        ("q1 Q0 d0 2 0.4 t", "document 'd0' repeated for query 'q1' \\(first at line 1\\)"),
    ],
)
def test_bad_run_lines(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.trec"
    path.write_text(f"q1 Q0 d0 1 0.9 t\n{line}\n")
    with pytest.raises(InvalidInputError, match=rf"bad\.trec:2: {message}"):
        read_trec_run(path)


def test_bad_byte_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.trec"
    path.write_bytes(b"q1 Q0 d0 1 0.9 t\nq1 Q0 d\xff 2 0.5 t\n")
    with pytest.raises(InvalidInputError, match=r"bad\.trec:2: not UTF-8 text \(byte 0xff"):
        read_trec_run(path)


def test_missing_run_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"nothing\.trec: file is missing"):
        read_trec_run(tmp_path / "nothing.trec")


def test_order_comes_from_the_scores_as_in_trec_eval(tmp_path: Path) -> None:
    """The rank column is not read (trec_eval and ir-measures ignore it too); blank lines are skipped."""
    path = tmp_path / "x.trec"
    path.write_text("q2 Q0 a 1 0.1 t\n\nq1 Q0 b 7 0.2 t\nq2 Q0 c 2 0.9 t\nq1 Q0 d one 0.2 t\n")
    run = read_trec_run(path)
    assert run.rows() == [("q2", "c", 0.9, 1), ("q2", "a", 0.1, 2), ("q1", "b", 0.2, 1), ("q1", "d", 0.2, 2)]


def test_bad_tag(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="tag"):
        write_trec_run(run_from_search(["q1", "q2"], _result()), tmp_path / "x.trec", tag="two words")
