"""BEIR-format folders as :class:`recplug.protocols.RetrievalDataset` polars frames.

A BEIR folder holds ``corpus.jsonl`` (or ``corpus.jsonl.gz``) with one ``{"_id", "title", "text"}``
object per line, ``queries.jsonl`` with ``{"_id", "text"}`` and ``qrels/<split>.tsv`` with the header
``query-id  corpus-id  score``. Loading is strict: a missing file, a line that is not a JSON object, a
missing or non-string field, a duplicate id, an unknown query id or a duplicate pair in the qrels is an
:class:`recplug.errors.InvalidInputError` naming the file and line. Nothing is dropped; blank lines are
skipped and counted in :attr:`BeirDataset.load_notes`. ``title`` may be absent (BEIR allows it) and is
then ``""`` (also counted).

Why not ``beir``'s own ``GenericDataLoader`` (beir 2.2, beir/datasets/data_loader.py): it reads the same
files into dicts but checks nothing, reads no gzip-compressed corpus, and ``beir`` is not a dependency here
(it brings Hugging Face ``datasets`` and pytrec-eval along). Side by side:

- Duplicate ids: beir keeps the last record under the first one's position, silently (a dict); duplicate
  qrels pairs keep the last score. Here both are errors naming the two lines (a duplicate means a broken
  file, and a silent choice changes the scores).
- Qrels header: beir skips the first line whatever it holds, so a file without a header loses its first
  judgment. Here any first line is taken as the header, as in beir, unless it reads as a judgment (three
  columns, an integer score), which is an error instead of a lost judgment.
- Score 0: both keep it (judged non-relevant); a query whose judgments are all 0 is still a judged query.
- Unknown ids in the qrels: beir keeps a judgment of a document that is not in the corpus, and so does this
  loader (counted in ``load_notes``): BEIR's published scores count it as a relevant document nobody can
  retrieve (ArguAna has one). A judgment of a query that is not in ``queries.jsonl`` fails in beir with a
  ``KeyError``; here it is an error naming the line.
- Titles: beir stores a missing title as ``None``; here it is ``""`` and counted. Both join
  ``title + " " + text`` for encoders (:func:`document_texts`).
- Encoding: both read UTF-8; here a bad byte names its line, a leading byte-order mark is dropped, ``_id``
  numbers become strings (beir keeps them as ints, which then never match the qrels' string ids), and the
  corpus may be gzip-compressed.
- Quoting: beir reads qrels with ``csv.QUOTE_MINIMAL`` (a ``"`` in an id starts a quoted field); here with
  ``QUOTE_NONE`` (one line, one row, ids taken as written).

Registered dataset components: ``"scifact"`` (default path ``<shared data>/beir/scifact``, overridable
with ``path=``) and ``"beir"`` (any folder, ``path=`` required).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from recplug.errors import ConfigError, InvalidInputError
from recplug.records import DatasetSpec

from recplug_eval.options import PATH, check_option
from recplug_eval.text_files import text_lines

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

QRELS_HEADER = ("query-id", "corpus-id", "score")


def _json_lines(path: Path, notes: dict[str, int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line; bad JSON names file and line."""
    for number, line in text_lines(path):
        if not line.strip():
            notes[f"{path.name}: blank lines skipped"] = notes.get(f"{path.name}: blank lines skipped", 0) + 1
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise InvalidInputError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        yield number, obj


@overload
def _field(obj: dict[str, Any], key: str, path: Path, number: int, *, required: Literal[True] = ...) -> str: ...


@overload
def _field(obj: dict[str, Any], key: str, path: Path, number: int, *, required: bool) -> str | None: ...


def _field(obj: dict[str, Any], key: str, path: Path, number: int, *, required: bool = True) -> str | None:
    if key not in obj or obj[key] is None:
        if required:
            raise InvalidInputError(f"{path}:{number}: missing field {key!r}")
        return None
    value = obj[key]
    if key == "_id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInputError(f"{path}:{number}: field {key!r} must be a string, got {type(value).__name__}")
    if key == "_id" and not value.strip():
        raise InvalidInputError(f"{path}:{number}: empty '_id'")
    return value


def _check_unique(seen: dict[str, int], key: str, path: Path, number: int, what: str) -> None:
    if key in seen:
        raise InvalidInputError(f"{path}:{number}: duplicate {what} {key!r} (first at line {seen[key]})")
    seen[key] = number


def read_corpus(path: Path, notes: dict[str, int] | None = None) -> pl.DataFrame:
    """Read a BEIR corpus file into ``doc_id, title, text`` (all str), in file order."""
    import polars as pl

    notes = {} if notes is None else notes
    seen: dict[str, int] = {}
    ids, titles, texts = [], [], []
    for number, obj in _json_lines(path, notes):
        doc_id = _field(obj, "_id", path, number)
        _check_unique(seen, doc_id, path, number, "document id")
        title = _field(obj, "title", path, number, required=False)
        if title is None:
            notes[f"{path.name}: documents without title"] = notes.get(f"{path.name}: documents without title", 0) + 1
        ids.append(doc_id)
        titles.append(title or "")
        texts.append(_field(obj, "text", path, number))
    if not ids:
        raise InvalidInputError(f"{path}: no documents")
    return pl.DataFrame({"doc_id": ids, "title": titles, "text": texts}, schema=_schema(CORPUS_SCHEMA))


def read_queries(path: Path, notes: dict[str, int] | None = None) -> pl.DataFrame:
    """Read a BEIR queries file into ``query_id, text`` (str), in file order."""
    import polars as pl

    notes = {} if notes is None else notes
    seen: dict[str, int] = {}
    ids, texts = [], []
    for number, obj in _json_lines(path, notes):
        query_id = _field(obj, "_id", path, number)
        _check_unique(seen, query_id, path, number, "query id")
        ids.append(query_id)
        texts.append(_field(obj, "text", path, number))
    if not ids:
        raise InvalidInputError(f"{path}: no queries")
    return pl.DataFrame({"query_id": ids, "text": texts}, schema=_schema(QUERIES_SCHEMA))


def read_qrels(
    path: Path, query_ids: set[str] | None = None, doc_ids: set[str] | None = None,
    notes: dict[str, int] | None = None,
) -> pl.DataFrame:
    """Read a BEIR qrels TSV (with header) into ``query_id, doc_id, relevance``.

    Unknown query ids (when ``query_ids`` is given), non-integer scores, wrong column counts, duplicate pairs
    and a first line that is a judgment rather than a header are errors naming the line. Judgments of
    documents not in ``doc_ids`` are kept, as beir keeps them, and counted in ``notes``.
    """
    import polars as pl

    notes = {} if notes is None else notes

    rows: list[tuple[str, str, int]] = []
    seen: dict[tuple[str, str], int] = {}
    reader = csv.reader((line for _, line in text_lines(path)), delimiter="\t", quoting=csv.QUOTE_NONE)
    # QUOTE_NONE: one row per line, so the row number is the file's line number
    for number, fields in enumerate(reader, start=1):
        if number == 1:
            if len(fields) == 3 and fields[2].strip().lstrip("+-").isdigit():
                raise InvalidInputError(
                    f"{path}:1: expected the header {' '.join(QRELS_HEADER)!r} (tab-separated), got the judgment "
                    f"{fields!r} (the first line is read as the header, as BEIR does)"
                )
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != 3:
            raise InvalidInputError(f"{path}:{number}: expected 3 tab-separated columns, got {len(fields)}")
        query_id, doc_id, score = (f.strip() for f in fields)
        try:
            relevance = int(score)
        except ValueError as exc:
            raise InvalidInputError(f"{path}:{number}: score {score!r} is not an integer") from exc
        if query_ids is not None and query_id not in query_ids:
            raise InvalidInputError(f"{path}:{number}: unknown query id {query_id!r} (not in queries.jsonl)")
        if doc_ids is not None and doc_id not in doc_ids:
            key = f"{path.name}: judgments of documents not in the corpus (kept)"
            notes[key] = notes.get(key, 0) + 1
        _check_unique(seen, (query_id, doc_id), path, number, "judgment")  # type: ignore[arg-type]
        rows.append((query_id, doc_id, relevance))
    if not rows:
        raise InvalidInputError(f"{path}: no judgments")
    query_col, doc_col, rel_col = zip(*rows, strict=True)
    return pl.DataFrame(
        {"query_id": list(query_col), "doc_id": list(doc_col), "relevance": list(rel_col)}, schema=_schema(QRELS_SCHEMA)
    )


CORPUS_SCHEMA = {"doc_id": "String", "title": "String", "text": "String"}
QUERIES_SCHEMA = {"query_id": "String", "text": "String"}
QRELS_SCHEMA = {"query_id": "String", "doc_id": "String", "relevance": "Int64"}


def _schema(spec: dict[str, str]) -> dict[str, Any]:
    import polars as pl

    return {name: getattr(pl, dtype) for name, dtype in spec.items()}


class BeirDataset:
    """A BEIR-format folder, read lazily and validated on first access.

    Args:
        path: the folder.
        name: the component name shown in reports.

    Attributes:
        splits: the qrels splits found in ``path/qrels`` (sorted); empty for a folder without judgments (no
            ``qrels/``, as a corpus built for agreement with exact search, e.g. ``tools/bench/muvera``'s), which
            ``recplug eval`` scores against a reference system's run only.
        load_notes: counts of tolerated oddities (blank lines, missing titles), by file.
    """

    def __init__(self, path: str | Path, name: str = "beir") -> None:
        check_option("dataset", "name", name, str, "a string", optional=False)
        check_option(f"dataset {name!r}", "path", path, PATH, "a path (a string)", optional=False)
        self.path = Path(path)
        self.name = name
        if not self.path.is_dir():
            raise InvalidInputError(f"{self.path}: BEIR folder is missing")
        qrels_dir = self.path / "qrels"
        # no qrels/ (or none in it): an unjudged corpus with queries; evaluation then needs a reference system
        self.splits: tuple[str, ...] = tuple(sorted(p.stem for p in qrels_dir.glob("*.tsv"))) if qrels_dir.is_dir() else ()
        self.load_notes: dict[str, int] = {}
        self._corpus: pl.DataFrame | None = None
        self._queries: pl.DataFrame | None = None
        self._qrels: dict[str, pl.DataFrame] = {}

    def __repr__(self) -> str:
        return f"BeirDataset(name={self.name!r}, path={str(self.path)!r}, splits={self.splits})"

    @property
    def corpus_path(self) -> Path:
        for candidate in ("corpus.jsonl", "corpus.jsonl.gz"):
            if (self.path / candidate).exists():
                return self.path / candidate
        raise InvalidInputError(f"{self.path}: corpus.jsonl (or corpus.jsonl.gz) is missing")

    def corpus(self) -> pl.DataFrame:
        """``doc_id, title, text`` (N rows, file order)."""
        if self._corpus is None:
            self._corpus = read_corpus(self.corpus_path, self.load_notes)
        return self._corpus

    def queries(self) -> pl.DataFrame:
        """``query_id, text`` (every query in the file, file order)."""
        if self._queries is None:
            self._queries = read_queries(self.path / "queries.jsonl", self.load_notes)
        return self._queries

    def qrels(self, split: str) -> pl.DataFrame:
        """``query_id, doc_id, relevance`` of ``split``; ids are checked against corpus and queries."""
        if split not in self.splits:
            raise ConfigError(f"{self.name}: unknown split {split!r}; available: {', '.join(self.splits)}" if self.splits
                              else f"{self.name}: {self.path / 'qrels'} holds no <split>.tsv: this folder has no judgments")
        if split not in self._qrels:
            self._qrels[split] = read_qrels(
                self.path / "qrels" / f"{split}.tsv",
                query_ids=set(self.queries()["query_id"].to_list()),
                doc_ids=set(self.corpus()["doc_id"].to_list()),
                notes=self.load_notes,
            )
        return self._qrels[split]

    def split_queries(self, split: str) -> pl.DataFrame:
        """The queries judged in ``split`` (``query_id, text``), in queries-file order."""
        judged = self.qrels(split)["query_id"].unique()
        return self.queries().filter(self.queries()["query_id"].is_in(judged.implode()))


def document_texts(corpus: pl.DataFrame, separator: str = " ") -> list[str]:
    """``title + separator + text`` per document (just ``text`` where the title is empty), as BEIR does."""
    return [f"{t}{separator}{x}" if t else x for t, x in zip(corpus["title"].to_list(), corpus["text"].to_list(), strict=True)]


def write_beir(
    path: str | Path, corpus: pl.DataFrame, queries: pl.DataFrame, qrels: dict[str, pl.DataFrame]
) -> Path:
    """Write frames as a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``), whole beside
    its place and swapped in (:func:`recplug.fileio.atomic_folder`): a write killed at any moment leaves the old
    folder or the new one; other files in it are not kept."""
    from recplug.fileio import atomic_folder

    path = Path(path)
    with atomic_folder(path) as staging:
        _write_beir_files(staging, corpus, queries, qrels)
    return path


def _write_beir_files(
    path: Path, corpus: pl.DataFrame, queries: pl.DataFrame, qrels: dict[str, pl.DataFrame]
) -> None:
    from recplug.fileio import atomic_write_text

    atomic_write_text(
        path / "corpus.jsonl",
        "".join(
            json.dumps({"_id": d, "title": t, "text": x}) + "\n"
            for d, t, x in corpus.select("doc_id", "title", "text").iter_rows()
        ),
    )
    atomic_write_text(
        path / "queries.jsonl",
        "".join(json.dumps({"_id": q, "text": x}) + "\n" for q, x in queries.select("query_id", "text").iter_rows()),
    )
    for split, frame in qrels.items():
        lines = ["\t".join(QRELS_HEADER)]
        lines += [f"{q}\t{d}\t{r}" for q, d, r in frame.select("query_id", "doc_id", "relevance").iter_rows()]
        atomic_write_text(path / "qrels" / f"{split}.tsv", "\n".join(lines) + "\n")


def subset_beir(
    dataset: BeirDataset, path: str | Path, *, split: str = "test", max_docs: int = 200, max_queries: int = 50
) -> Path:
    """Write a small, self-consistent slice of ``dataset`` to ``path``: the first ``max_queries`` judged
    queries of ``split``, every document they judge, then other documents in corpus order up to
    ``max_docs`` (tests and smoke runs)."""
    import polars as pl

    qrels = dataset.qrels(split)
    queries = dataset.split_queries(split).head(max_queries)
    qrels = qrels.filter(pl.col("query_id").is_in(queries["query_id"].implode()))
    relevant = qrels["doc_id"].unique(maintain_order=True).to_list()
    if len(relevant) > max_docs:
        raise ConfigError(f"max_docs={max_docs} is below the {len(relevant)} documents judged for these queries")
    corpus = dataset.corpus()
    fillers = corpus.filter(~pl.col("doc_id").is_in(relevant)).head(max_docs - len(relevant))["doc_id"].to_list()
    keep = set(relevant) | set(fillers)
    sliced = corpus.filter(pl.col("doc_id").is_in(list(keep)))
    return write_beir(path, sliced, queries, {split: qrels})


def default_scifact_path() -> Path:
    from recplug_eval.paths import shared_data_dir

    return shared_data_dir() / "beir" / "scifact"


def _scifact(path: str | Path | None = None) -> BeirDataset:
    return BeirDataset(path if path is not None else default_scifact_path(), name="scifact")


def _beir(path: str | Path | None = None, name: str | None = None) -> BeirDataset:
    check_option("dataset 'beir'", "path", path, PATH, "a path (a string)")
    if path is None:
        raise ConfigError("dataset 'beir' needs path=<folder with corpus.jsonl, queries.jsonl, qrels/>")
    return BeirDataset(path, name=name or Path(path).name)


def beir_dataset_specs() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            "beir",
            factory=_beir,
            description="any BEIR-format folder (path=...): corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv",
            kind="retrieval",
        ),
        DatasetSpec(
            "scifact",
            factory=_scifact,
            description="BEIR SciFact (5,183 abstracts; test 300 queries) from the shared data folder",
            kind="retrieval",
        ),
    ]
