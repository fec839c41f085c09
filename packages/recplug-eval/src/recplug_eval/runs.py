"""Runs (ranked results per query) as polars frames, and TREC run files in and out.

A run frame has the columns ``query_id`` (str), ``doc_id`` (str), ``score`` (float64) and ``rank``
(int64, 1 = best). A TREC run file has six whitespace-separated columns per line:
``query_id Q0 doc_id rank score tag``.

Run files are read by ir-measures (``ir_measures.read_trec_run``); like it and trec_eval, the order comes
from the scores and the rank column is not read. Written here: neither ir-measures nor pytrec_eval (the
libraries this package keeps) writes run files, and the format is one f-string per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from recplug.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    from recplug.protocols import SearchResult

RUN_COLUMNS = ("query_id", "doc_id", "score", "rank")


def empty_run() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Float64, "rank": pl.Int64})


def run_from_search(query_ids: Sequence[str], result: SearchResult) -> pl.DataFrame:
    """A run frame from ``Q`` query ids and a ``Q x k`` :class:`SearchResult`; empty slots (``""``, ``-1``
    or ``-inf`` score) are left out."""
    import polars as pl

    ids, scores = np.asarray(result.ids), np.asarray(result.scores, dtype=np.float64)
    if ids.shape != scores.shape or ids.ndim != 2 or ids.shape[0] != len(query_ids):
        raise InvalidInputError(
            f"search result shapes {ids.shape} / {scores.shape} do not fit {len(query_ids)} queries"
        )
    k = ids.shape[1]
    valid = np.isfinite(scores) & (ids.astype(str) != "") & (ids.astype(str) != "-1")
    frame = pl.DataFrame(
        {
            "query_id": np.repeat(np.asarray(query_ids, dtype=str), k)[valid.ravel()],
            "doc_id": ids.astype(str).ravel()[valid.ravel()],
            "score": scores.ravel()[valid.ravel()],
        }
    )
    return rank_run(frame)


def rank_run(frame: pl.DataFrame) -> pl.DataFrame:
    """Sort by query (in first-seen order), then score descending (ties: doc id), and renumber ranks 1..k."""
    import polars as pl

    order = frame.select("query_id").unique(maintain_order=True).with_row_index("_q")
    return (
        frame.join(order, on="query_id", how="left")
        .sort(["_q", "score", "doc_id"], descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("query_id").cast(pl.Int64).alias("rank"))
        .select(list(RUN_COLUMNS))
    )


def write_trec_run(run: pl.DataFrame, path: str | Path, tag: str = "recplug") -> Path:
    """Write ``run`` as a TREC run file atomically (written here: see the module doc)."""
    from recplug.fileio import atomic_write_text

    if any(ch.isspace() for ch in tag) or not tag:
        raise InvalidInputError(f"run tag {tag!r} must be a non-empty word without spaces")
    lines = [f"{q} Q0 {d} {r} {s:.6f} {tag}\n" for q, d, s, r in run.select(list(RUN_COLUMNS)).iter_rows()]
    atomic_write_text(path, "".join(lines))
    return Path(path)


def read_trec_run(path: str | Path) -> pl.DataFrame:
    """Read a TREC run file (``.gz``: gzip-compressed) with ``ir_measures.read_trec_run``, ranked by score.

    As in trec_eval, the rank column is not used: each query's documents are ordered by score (ties: doc id)
    and ranked 1..k, queries in file order. A wrong column count, a score that is not a finite number, a
    byte that is not UTF-8 or a repeated (query, document) pair is an :class:`InvalidInputError` naming
    the file and the line.
    """
    import ir_measures
    import polars as pl

    from recplug_eval.text_files import NumberedLines

    path = Path(path)
    query_ids: list[str] = []
    doc_ids: list[str] = []
    scores: list[float] = []
    seen: dict[tuple[str, str], int] = {}
    lines = NumberedLines(path)
    try:
        with lines:
            for scored in ir_measures.read_trec_run(lines):
                where = f"{path}:{lines.number}"
                if not np.isfinite(scored.score):
                    raise InvalidInputError(f"{where}: score {lines.line.split()[4]!r} is not finite")
                key = (scored.query_id, scored.doc_id)
                if key in seen:
                    raise InvalidInputError(f"{where}: document {scored.doc_id!r} repeated for query "
                                            f"{scored.query_id!r} (first at line {seen[key]})")
                seen[key] = lines.number
                query_ids.append(scored.query_id)
                doc_ids.append(scored.doc_id)
                scores.append(scored.score)
    except InvalidInputError:
        raise
    except ValueError as exc:  # ir-measures' own: unpacking the six columns, float() of the score
        fields = lines.line.split()
        problem = f"expected 6 columns, got {len(fields)}" if len(fields) != 6 else f"score {fields[4]!r} is not a number"
        raise InvalidInputError(f"{path}:{lines.number}: {problem}") from exc
    if not query_ids:
        return empty_run()
    return rank_run(pl.DataFrame({"query_id": query_ids, "doc_id": doc_ids, "score": scores},
                                 schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Float64}))
