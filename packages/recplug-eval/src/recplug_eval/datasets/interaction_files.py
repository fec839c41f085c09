"""A recommender dataset from the user's own files: interactions, optional user and item feature tables.

Files are CSV (``.csv``, ``.tsv``, ``.txt``; ``separator``) or parquet (``.parquet``, ``.pq``), read with polars.

* interactions: one row per (user, item) event; ``user_column`` and ``item_column`` (int or string ids),
  optionally ``timestamp_column`` (numbers, datetimes or ISO date strings, as epoch seconds), ``rating_column``, ``weight_column`` (numbers,
  weights >= 0) and ``split_column`` (``train`` / ``valid`` / ``test``). Or three files: ``interactions``
  (train), ``valid_interactions`` and ``test_interactions``.
* users / items: one row per entity, keyed by the same id column; every other column is a feature the
  schema may name.

Dense ids (what the model's tables index): entities in the order of their feature table, then the ids seen only
in the interactions, in order of first appearance (so items that occur only in valid/test get an id and are
ranked like any other item). An id in the interactions but missing from the feature table gets null features
(the schema puts them in its out-of-vocabulary bucket). A feature-table id that no interaction names is an
error unless ``unmatched_feature_rows`` is ``"keep"`` (a candidate item / user with features only) or
``"drop"``.

Frames (:meth:`interactions`, :meth:`users`, :meth:`items`): ``user_id`` / ``item_id`` dense int64 ids,
``raw_user_id`` / ``raw_item_id`` the ids as strings, ``timestamp`` (int64), ``rating`` / ``weight``
(float64), and the feature tables' own columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recplug.errors import ConfigError, InvalidInputError

from recplug_eval.datasets.splits import InteractionSplit, split_interactions
from recplug_eval.options import PATH, check_option

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
UNMATCHED_POLICIES = ("error", "keep", "drop")
#: file stems :meth:`InteractionFiles.from_folder` looks for, in this order of suffixes
FOLDER_FILES = {"interactions": "interactions", "users": "users", "items": "items"}


def read_table(path: str | Path, separator: str = ",", string_columns: Sequence[str] = ()) -> pl.DataFrame:
    """A CSV or parquet file as a polars frame; a missing, empty, unreadable or non-UTF-8 file is a one-line error.
    ``string_columns`` of a CSV are read as text, not inferred (ids such as ``007`` keep their zeros); a name
    the file lacks is ignored."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            frame = pl.read_parquet(path)
        elif suffix in CSV_SUFFIXES:
            sep = "\t" if suffix == ".tsv" and separator == "," else separator
            frame = pl.read_csv(path, separator=sep, infer_schema_length=100_000, encoding="utf8",
                                schema_overrides=dict.fromkeys(string_columns, pl.Utf8))
        else:
            raise InvalidInputError(
                f"{path}: unknown file type {suffix!r}; use {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
            )
    except InvalidInputError:
        raise
    except Exception as exc:  # polars raises several error types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"{path}: cannot be read ({first})") from None
    if frame.height == 0:
        raise InvalidInputError(f"{path}: the table is empty (no rows)")
    return frame


def require_column(frame: pl.DataFrame, column: str, source: str, option: str) -> None:
    """A missing column is an error naming the file, the option that names it and the close matches."""
    if column not in frame.columns:
        close = get_close_matches(column, frame.columns, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidInputError(
            f"{source}: no column {column!r} ({option}).{hint} Columns: {', '.join(frame.columns)}"
        )


def _first_row(mask: Any) -> int:
    """1-based number of the first True row of a boolean polars Series."""
    return int(mask.arg_true()[0]) + 1


def _id_strings(frame: pl.DataFrame, column: str, source: str) -> pl.Series:
    """The id column as strings; nulls and non-id dtypes are errors naming the first bad row."""
    import polars as pl

    series = frame[column]
    if not (series.dtype.is_integer() or series.dtype in (pl.Utf8, pl.Categorical)):
        raise InvalidInputError(f"{source}: column {column!r} holds {series.dtype}, an id must be an integer or a string")
    if series.null_count():
        raise InvalidInputError(f"{source}: column {column!r} has a null id at row {_first_row(series.is_null())}")
    return series.cast(pl.Utf8)


def as_numbers(series: pl.Series, where: str) -> pl.Series:
    """``series`` as float64 (nulls stay null); a value that is not a number is an error naming ``where`` and its
    first row (1-based)."""
    import polars as pl

    converted = series.cast(pl.Float64, strict=False)
    bad = converted.is_null() & series.is_not_null()
    if bad.any():
        row = _first_row(bad)
        raise InvalidInputError(f"{where} must be numeric; row {row} holds {series[row - 1]!r}")
    return converted


def _numbers(frame: pl.DataFrame, column: str, source: str, *, non_negative: bool = False,
             dates: bool = False) -> pl.Series:
    """A numeric column (``dates``: ISO date / datetime strings become epoch seconds too)."""
    import polars as pl

    series = frame[column]
    if dates and series.dtype == pl.Utf8:
        try:  # one ISO format for the whole column, inferred by polars
            parsed = series.str.to_datetime(strict=False, time_unit="ms")
        except pl.exceptions.ComputeError:
            parsed = None
        if parsed is not None and parsed.null_count() == series.null_count() and parsed.len():
            series = parsed
    if series.dtype.is_temporal():
        series = series.cast(pl.Datetime("ms")).dt.epoch("s")
    if not series.dtype.is_numeric():
        series = as_numbers(series, f"{source}: column {column!r}")
    if series.null_count():
        raise InvalidInputError(f"{source}: column {column!r} is null at row {_first_row(series.is_null())}")
    if series.dtype.is_float() and not series.is_finite().all():
        row = _first_row(~series.is_finite())
        raise InvalidInputError(f"{source}: column {column!r} is not a finite number at row {row} ({series[row - 1]})")
    if non_negative and (series < 0).any():
        row = _first_row(series < 0)
        raise InvalidInputError(f"{source}: column {column!r} is negative at row {row} ({series[row - 1]})")
    return series


class InteractionFiles:
    """The user's own interactions and feature tables (see the module doc).

    Args:
        interactions: interactions file (train only when ``valid_interactions`` / ``test_interactions`` are given).
        users, items: optional feature tables keyed by ``user_column`` / ``item_column``.
        user_column, item_column: the id columns (in every file).
        timestamp_column, rating_column, weight_column, split_column: optional interaction columns.
        valid_interactions, test_interactions: the split as separate files (split ``"files"``).
        separator: CSV field separator (``.tsv`` files default to a tab).
        min_rating: keep only interactions with ``rating >= min_rating`` (implicit positives).
        unmatched_feature_rows: ``"error"``, ``"keep"`` or ``"drop"`` feature rows no interaction names.
        name: shown in reports (default: the interactions file's folder name).
    """

    def __init__(
        self,
        interactions: str | Path,
        users: str | Path | None = None,
        items: str | Path | None = None,
        *,
        user_column: str = "user_id",
        item_column: str = "item_id",
        timestamp_column: str | None = None,
        rating_column: str | None = None,
        weight_column: str | None = None,
        split_column: str | None = None,
        valid_interactions: str | Path | None = None,
        test_interactions: str | Path | None = None,
        separator: str = ",",
        min_rating: float | None = None,
        unmatched_feature_rows: str = "error",
        name: str | None = None,
    ) -> None:
        owner = f"dataset {name or 'files'!r}"
        for option, value in (("interactions", interactions), ("users", users), ("items", items),
                              ("valid_interactions", valid_interactions), ("test_interactions", test_interactions)):
            check_option(owner, option, value, PATH, "a path (a string)", optional=option != "interactions")
        for option, value in (("user_column", user_column), ("item_column", item_column),
                              ("timestamp_column", timestamp_column), ("rating_column", rating_column),
                              ("weight_column", weight_column), ("split_column", split_column),
                              ("separator", separator), ("unmatched_feature_rows", unmatched_feature_rows),
                              ("name", name)):
            check_option(owner, option, value, str, "a string",
                         optional=option not in ("user_column", "item_column", "separator", "unmatched_feature_rows"))
        check_option(owner, "min_rating", min_rating, (int, float), "a number")
        if unmatched_feature_rows not in UNMATCHED_POLICIES:
            raise ConfigError(
                f"unmatched_feature_rows must be one of {', '.join(UNMATCHED_POLICIES)}, got {unmatched_feature_rows!r}"
            )
        if (valid_interactions is None) != (test_interactions is None):
            raise ConfigError("give both valid_interactions and test_interactions, or neither")
        def optional(path: str | Path | None) -> Path | None:
            return Path(path) if path is not None else None

        interactions_path = Path(interactions)
        self.paths: dict[str, Path | None] = {
            "interactions": interactions_path, "users": optional(users), "items": optional(items),
            "valid": optional(valid_interactions), "test": optional(test_interactions)}
        self.columns: dict[str, str | None] = {"user": user_column, "item": item_column, "timestamp": timestamp_column,
                        "rating": rating_column, "weight": weight_column, "split": split_column}
        self.separator, self.min_rating, self.unmatched = separator, min_rating, unmatched_feature_rows
        self.name = name or interactions_path.parent.name or "files"
        self.report: dict[str, Any] = {}
        self._frames: dict[str, pl.DataFrame] | None = None

    @classmethod
    def from_folder(cls, folder: str | Path, **options: Any) -> InteractionFiles:
        """``interactions.*`` and, when present, ``users.*`` / ``items.*`` (CSV or parquet) of ``folder``."""
        check_option(f"dataset {options.get('name') or 'files'!r}", "path", folder, PATH, "a path (a string)",
                     optional=False)
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidInputError(f"{folder}: not a folder")
        found: dict[str, Path] = {}
        for key, stem in FOLDER_FILES.items():
            for suffix in PARQUET_SUFFIXES + CSV_SUFFIXES:
                if (folder / f"{stem}{suffix}").is_file():
                    found[key] = folder / f"{stem}{suffix}"
                    break
        if "interactions" not in found:
            raise InvalidInputError(
                f"{folder}: no interactions file (interactions.csv, .tsv or .parquet); it holds "
                f"{', '.join(sorted(p.name for p in folder.iterdir())) or 'nothing'}"
            )
        options.setdefault("name", folder.name)
        return cls(found["interactions"], found.get("users"), found.get("items"), **options)

    # ----------------------------------------------------------------------------------------- loading
    def _id_columns(self) -> list[str]:
        """The id columns, read as text from every CSV (an absent one is ignored by polars)."""
        return [c for c in (self.columns["user"], self.columns["item"]) if c is not None]

    def _read_interactions(self, path: Path) -> pl.DataFrame:
        import polars as pl

        c = self.columns
        frame = read_table(path, self.separator, self._id_columns())
        source = str(path)
        out: dict[str, pl.Series | None] = {"raw_user_id": None, "raw_item_id": None}
        for key, option in (("user", "data.user_column"), ("item", "data.item_column")):
            column = c[key]
            assert column is not None  # user_column and item_column are required strings
            require_column(frame, column, source, option)
            out[f"raw_{key}_id"] = _id_strings(frame, column, source)
        for key, option in (("timestamp", "data.timestamp_column"), ("rating", "data.rating_column"),
                            ("weight", "data.weight_column")):
            column = c[key]
            if column is not None:
                require_column(frame, column, source, option)
                values = _numbers(frame, column, source, non_negative=key == "weight", dates=key == "timestamp")
                out[key] = values.cast(pl.Int64) if key == "timestamp" else values.cast(pl.Float64)
        split = c["split"]
        if split is not None and self.paths["valid"] is None:
            require_column(frame, split, source, "data.split_column")
            out["split"] = frame[split].cast(pl.Utf8)
        result = pl.DataFrame(out)
        duplicated = ~result.select(pl.struct(pl.all()).is_first_distinct()).to_series()
        if duplicated.any():
            row = _first_row(duplicated)
            raise InvalidInputError(f"{source}: duplicate rows, first at row {row} ({result.row(row - 1, named=True)})")
        if self.min_rating is not None:
            if "rating" not in result.columns:
                raise ConfigError("data.min_rating needs data.rating_column")
            result = result.filter(pl.col("rating") >= self.min_rating)
            if result.height == 0:
                raise InvalidInputError(f"{source}: no interaction has rating >= {self.min_rating}")
        return result

    def _entities(self, kind: str, seen: pl.Series) -> tuple[pl.DataFrame, list[str]]:
        """The ``kind`` (``user`` / ``item``) frame in dense-id order and the dense order of raw ids."""
        import polars as pl

        raw = f"raw_{kind}_id"
        seen_unique = seen.unique(maintain_order=True)
        path = self.paths[f"{kind}s"]
        if path is None:
            order = seen_unique
            frame = pl.DataFrame({raw: order})
            self.report[f"{kind}s_without_features"] = 0
        else:
            table = read_table(path, self.separator, self._id_columns())
            source = str(path)
            column = self.columns[kind]
            assert column is not None  # user_column and item_column are required strings
            require_column(table, column, source, f"data.{kind}_column")
            if raw in table.columns and raw != column:
                raise InvalidInputError(f"{source}: column {raw!r} is reserved for the ids; rename it")
            ids = _id_strings(table, column, source)
            duplicated = ~ids.is_first_distinct()
            if duplicated.any():
                row = _first_row(duplicated)
                raise InvalidInputError(f"{source}: duplicate {column} {ids[row - 1]!r}, first repeated at row {row}")
            table = table.with_columns(ids.alias(raw)).drop(column) if column != raw else table.with_columns(ids)
            unmatched = ~ids.is_in(seen_unique)
            if unmatched.any():
                if self.unmatched == "error":
                    row = _first_row(unmatched)
                    raise InvalidInputError(
                        f"{source}: {int(unmatched.sum())} {kind} id(s) occur in no interaction, first "
                        f"{ids[row - 1]!r} at row {row}; set data.unmatched_feature_rows = \"keep\" (rank them "
                        "too) or \"drop\""
                    )
                if self.unmatched == "drop":
                    table = table.filter(~unmatched)
            self.report[f"{kind}s_unmatched_feature_rows"] = int(unmatched.sum())
            table_ids = table[raw]
            missing = seen_unique.filter(~seen_unique.is_in(table_ids))
            self.report[f"{kind}s_without_features"] = missing.len()
            order = pl.concat([table_ids, missing])
            frame = pl.DataFrame({raw: order}).join(table, on=raw, how="left", maintain_order="left")
        frame = frame.with_columns(pl.int_range(0, frame.height, dtype=pl.Int64).alias(f"{kind}_id"))
        return frame.select(f"{kind}_id", raw, pl.exclude(f"{kind}_id", raw)), order.to_list()

    def _load(self) -> dict[str, pl.DataFrame]:
        import polars as pl

        if self._frames is not None:
            return self._frames
        interactions, valid, test = self.paths["interactions"], self.paths["valid"], self.paths["test"]
        assert interactions is not None  # always given
        parts = {"train": self._read_interactions(interactions)}
        if valid is not None:
            assert test is not None  # valid and test interactions come together (checked in __init__)
            parts["valid"] = self._read_interactions(valid)
            parts["test"] = self._read_interactions(test)
            labels = {"train": "train", "valid": "valid", "test": "test"}
            inter = pl.concat([p.with_columns(pl.lit(labels[k]).alias("split")) for k, p in parts.items()],
                              how="vertical_relaxed")
        else:
            inter = parts["train"]
        frames: dict[str, pl.DataFrame] = {}
        for kind in ("user", "item"):
            frame, order = self._entities(kind, inter[f"raw_{kind}_id"])
            frames[f"{kind}s"] = frame
            dense = inter[f"raw_{kind}_id"].replace_strict(order, list(range(len(order))), return_dtype=pl.Int64)
            inter = inter.with_columns(dense.alias(f"{kind}_id"))
        first = ["user_id", "item_id"]
        frames["interactions"] = inter.select(*first, pl.exclude(first))
        self._frames = frames
        return frames

    def interactions(self) -> pl.DataFrame:
        """Every interaction (all splits): ``user_id``, ``item_id`` (dense), raw ids, optional columns."""
        return self._load()["interactions"]

    def users(self) -> pl.DataFrame:
        """One row per user in dense-id order: ``user_id``, ``raw_user_id``, the users table's columns."""
        return self._load()["users"]

    def items(self) -> pl.DataFrame:
        """One row per item in dense-id order: ``item_id``, ``raw_item_id``, the items table's columns."""
        return self._load()["items"]

    @property
    def num_users(self) -> int:
        return self.users().height

    @property
    def num_items(self) -> int:
        return self.items().height

    def split(self, kind: str = "recbole", seed: int = 2020, ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> InteractionSplit:
        """Train / valid / test (see :mod:`recplug_eval.datasets.splits`; ``"files"`` or ``"column"`` take the
        split from the data)."""
        frame = self.interactions()
        if kind == "files":
            if self.paths["valid"] is None:
                raise ConfigError("split 'files' needs data.valid_interactions and data.test_interactions")
            kind = "column"
        elif self.paths["valid"] is not None and kind != "column":
            raise ConfigError(f"the data come split in three files; use split = \"files\", not {kind!r}")
        source = f"{self.paths['interactions']}, column {self.columns['split'] or 'split'!r}"
        return split_interactions(frame, kind, seed, ratios, split_column="split", source=source)

    def default_config(self) -> dict[str, Any]:
        """Shipped ``[data]`` / ``[features]`` settings (none for the user's own files)."""
        return {}


def interaction_files(path: str | None = None, interactions: str | None = None, **options: Any) -> InteractionFiles:
    """The ``files`` dataset component: a folder (``path=``) or explicit files (``interactions=``, ...)."""
    if path is not None and interactions is not None:
        raise ConfigError("give the dataset a folder (path=) or an interactions file (interactions=), not both")
    if path is not None:
        return InteractionFiles.from_folder(path, **options)
    if interactions is None:
        raise ConfigError("the files dataset needs a folder (path=) or an interactions file (interactions=)")
    return InteractionFiles(interactions, **options)


def interaction_files_specs() -> list[Any]:
    """The dataset component ``files``: the user's own interactions and feature tables."""
    from recplug.options import accepted_options
    from recplug.records import DatasetSpec

    options = {"path", *(accepted_options(InteractionFiles) or ())}
    return [DatasetSpec("files", interaction_files, "your own interactions + user / item tables (CSV or parquet; "
                        "path= a folder, or interactions= users= items=)", options=options, kind="interactions")]
