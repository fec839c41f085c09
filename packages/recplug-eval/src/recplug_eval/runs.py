"""Runs (ranked results per query) as polars frames, and TREC run files in and out.

A run frame has the columns ``query_id`` (str), ``doc_id`` (str), ``score`` (float64) and ``rank``
(int64, 1 = best). A TREC run file has six whitespace-separated columns per line:
``query_id Q0 doc_id rank score tag``.
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
    """Write ``run`` as a TREC run file atomically."""
    from recplug.fileio import atomic_write_text

    if any(ch.isspace() for ch in tag) or not tag:
        raise InvalidInputError(f"run tag {tag!r} must be a non-empty word without spaces")
    lines = [f"{q} Q0 {d} {r} {s:.6f} {tag}\n" for q, d, s, r in run.select(list(RUN_COLUMNS)).iter_rows()]
    atomic_write_text(path, "".join(lines))
    return Path(path)


def read_trec_run(path: str | Path) -> pl.DataFrame:
    """Read a TREC run file; a wrong column count, a non-numeric rank or score or a repeated
    (query, document) pair is an :class:`InvalidInputError` naming the line."""
    import polars as pl

    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: file is missing")
    rows: list[tuple[str, str, float, int]] = []
    seen: dict[tuple[str, str], int] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise InvalidInputError(f"{path}:{number}: expected 6 columns, got {len(fields)}")
            query_id, _, doc_id, rank, score, _ = fields
            try:
                rank_value, score_value = int(rank), float(score)
            except ValueError as exc:
                raise InvalidInputError(f"{path}:{number}: rank {rank!r} / score {score!r} are not numbers") from exc
            if not np.isfinite(score_value):
                raise InvalidInputError(f"{path}:{number}: score {score!r} is not finite")
            if (query_id, doc_id) in seen:
                raise InvalidInputError(
                    f"{path}:{number}: document {doc_id!r} repeated for query {query_id!r} "
                    f"(first at line {seen[(query_id, doc_id)]})"
                )
            seen[(query_id, doc_id)] = number
            rows.append((query_id, doc_id, score_value, rank_value))
    if not rows:
        return empty_run()
    q, d, s, r = zip(*rows, strict=True)
    return pl.DataFrame(
        {"query_id": list(q), "doc_id": list(d), "score": list(s), "rank": list(r)},
        schema={"query_id": pl.String, "doc_id": pl.String, "score": pl.Float64, "rank": pl.Int64},
    )
