"""The declared feature schema: which column of which table becomes which sparse feature, fitted into ids.

Declared in the run's config (TOML) as one table per feature; the feature's name is its ``KeyedJaggedTensor``
key and its embedding table is ``t_<name>``::

    [features.item_genres]
    table = "items"              # "users" or "items": the tower
    column = "genres"            # default: the feature's name
    kind = "multi_categorical"   # id | categorical | multi_categorical | text | numeric
    delimiter = "|"              # a delimited string column (a list column needs none)
    min_count = 2                # values seen fewer times go to the out-of-vocabulary row
    max_size = 10000             # keep the most frequent values
    embedding_dim = 32           # default: model.embedding_dim
    pooling = "mean"             # default: sum for one value, mean for bags

Kinds: ``id`` (the entity itself, one row per user / item), ``categorical`` (one value; ``truncate``
keeps its first characters), ``multi_categorical`` (a bag), ``text`` (tokens of ``tokenizer``, see
:mod:`recplug_recsys.tokenizers`; ``max_tokens``), ``numeric`` (``buckets`` quantile buckets, or explicit
``boundaries``; a value ``v`` falls in bucket ``#{b <= v}``).

Ids: with ``oov_bucket`` (the default) row 0 of every table is the out-of-vocabulary / null row and the
vocabulary (sorted) takes rows 1..V; without it rows are 0..V-1 and a null or unseen value is an error.
A null single value gets row 0; a bag keeps its known values, and a bag left empty gets row 0.

Fitting (:meth:`FittedSchema.fit`) reads the users / items frames once; every lossy choice (values merged
by ``truncate``, a vocabulary limit or a bucket, texts cut by ``max_tokens``) is counted in the feature's
report and logged. The fitted schema (vocabularies, bucket edges, tokenizer) is JSON
(:meth:`FittedSchema.to_json`), saved with every checkpoint and applied, never refitted, at evaluation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from recplug.errors import ConfigError, IncompatibleFileError, InvalidInputError
from recplug.protocols import TableSpec
from recplug_eval.datasets.interaction_files import as_numbers

from recplug_recsys.tokenizers import load_tokenizer

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

log = logging.getLogger(__name__)

KINDS = ("id", "categorical", "multi_categorical", "text", "numeric")
TABLES = {"users": "user", "items": "item"}
POOLINGS = ("sum", "mean")
SCHEMA_FORMAT = 1
#: the features of a dataset that declares none: the two ids (a matrix-factorisation two-tower)
ID_ONLY = {"user_id": {"table": "users", "kind": "id"}, "item_id": {"table": "items", "kind": "id"}}
#: options that only some kinds accept (an option set for another kind is an error)
KIND_OPTIONS = {
    "delimiter": ("multi_categorical",),
    "tokenizer": ("text",), "pattern": ("text",), "lowercase": ("text",), "max_tokens": ("text",),
    "truncate": ("categorical",),
    "min_count": ("categorical", "multi_categorical", "text"), "max_size": ("categorical", "multi_categorical", "text"),
    "buckets": ("numeric",), "boundaries": ("numeric",),
}


@dataclass(frozen=True)
class FeatureConfig:
    """One declared feature (see the module doc for the fields)."""

    table: str
    kind: str
    column: str | None = None
    delimiter: str | None = None
    tokenizer: str | None = None
    pattern: str | None = None
    lowercase: bool | None = None
    max_tokens: int | None = None
    truncate: int | None = None
    min_count: int | None = None
    max_size: int | None = None
    buckets: int | None = None
    boundaries: tuple[float, ...] | None = None
    oov_bucket: bool = True
    embedding_dim: int | None = None
    pooling: str | None = None

    def check(self, name: str) -> None:
        """Every field against what the kind accepts; a :class:`ConfigError` naming the feature."""
        where = f"features.{name}"
        if self.table not in TABLES:
            raise ConfigError(f"{where}.table must be one of {', '.join(TABLES)}, got {self.table!r}")
        if self.kind not in KINDS:
            close = get_close_matches(str(self.kind), KINDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}.kind must be one of {', '.join(KINDS)}, got {self.kind!r}.{hint}")
        for option, kinds in KIND_OPTIONS.items():
            if getattr(self, option) is not None and self.kind not in kinds:
                raise ConfigError(f"{where}.{option} applies to kind {' / '.join(kinds)}, not {self.kind!r}")
        for option in ("max_tokens", "truncate", "min_count", "max_size", "embedding_dim"):
            value = getattr(self, option)
            if value is not None and value < 1:
                raise ConfigError(f"{where}.{option} must be >= 1, got {value}")
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise ConfigError(f"{where}.pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.kind == "numeric":
            if (self.buckets is None) == (self.boundaries is None):
                raise ConfigError(f"{where}: a numeric feature needs buckets = N (quantiles) or boundaries = [...]")
            if self.buckets is not None and self.buckets < 2:
                raise ConfigError(f"{where}.buckets must be >= 2, got {self.buckets}")
            if self.boundaries is not None and (not self.boundaries or any(
                    b >= c for b, c in zip(self.boundaries, self.boundaries[1:], strict=False))):
                raise ConfigError(f"{where}.boundaries must be a non-empty increasing list, got {list(self.boundaries)}")
        if self.kind == "text":
            load_tokenizer(self.tokenizer or "regex", self.pattern, self.lowercase is not False)  # installed? valid?
        if not self.oov_bucket and (self.min_count is not None or self.max_size is not None):
            raise ConfigError(f"{where}: min_count / max_size send values to the out-of-vocabulary row; "
                              "they need oov_bucket = true")
        if self.kind == "id" and self.column is not None:
            raise ConfigError(f"{where}.column: an id feature reads the dataset's id column (data.user_column / "
                              "data.item_column); declare no column")
        if self.kind == "multi_categorical" and self.delimiter == "":
            raise ConfigError(f"{where}.delimiter must not be empty")


def parse_features(declared: Mapping[str, Any]) -> dict[str, FeatureConfig]:
    """``{name: FeatureConfig}`` from the config's ``[features]`` tables (in declaration order), checked."""
    from recplug_recsys.config import from_dict

    out: dict[str, FeatureConfig] = {}
    for name, options in declared.items():
        if not isinstance(options, Mapping):
            raise ConfigError(f"features.{name}: expected a table (kind = ..., table = ...), got {options!r}")
        for required in ("table", "kind"):
            if required not in options:
                raise ConfigError(f"features.{name}: missing {required!r}")
        feature = from_dict(FeatureConfig, dict(options), f"features.{name}")
        feature.check(name)
        out[name] = feature
    for table, tower in TABLES.items():
        if not any(f.table == table for f in out.values()):
            raise ConfigError(f"the schema declares no {tower} feature (table = {table!r}); each tower needs one")
    return out


# --------------------------------------------------------------------------------------- raw values
def _source(table: str, column: str, name: str) -> str:
    return f"{table} table, column {column!r} (feature {name!r})"


def _column(frame: pl.DataFrame, table: str, name: str, config: FeatureConfig) -> pl.Series:
    column = config.column or name
    if column not in frame.columns:
        visible = [c for c in frame.columns if c not in ("user_id", "item_id")]
        close = get_close_matches(column, visible, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidInputError(
            f"feature {name!r}: the {table} table has no column {column!r}.{hint} Columns: {', '.join(visible)}"
        )
    return frame[column]


def _bags(frame: pl.DataFrame, name: str, config: FeatureConfig, tokenizer: Any,
          report: dict[str, Any] | None = None) -> tuple[pl.Series, pl.Series]:
    """``(values, row)``: the feature's string values of every entity row, flattened (nulls dropped), and the
    0-based row each came from. Single-valued kinds give one value (or none) per row. ``report`` (when given)
    gets ``tokens_cut``, the tokens ``max_tokens`` removed."""
    import polars as pl

    table = config.table
    if config.kind == "id":
        raw = f"raw_{TABLES[table]}_id"
        series = frame[raw] if raw in frame.columns else frame[f"{TABLES[table]}_id"]
        values = series.cast(pl.Utf8)
    else:
        values = _column(frame, table, name, config)
        where = _source(table, config.column or name, name)
        is_list = isinstance(values.dtype, pl.List | pl.Array)
        if config.kind == "categorical":
            if is_list:
                raise InvalidInputError(f"{where} is a list column; declare kind = \"multi_categorical\"")
            values = values.cast(pl.Utf8)
            if config.truncate is not None:
                values = values.str.slice(0, config.truncate)
        elif config.kind == "multi_categorical":
            if not is_list:
                if values.dtype != pl.Utf8:
                    raise InvalidInputError(f"{where} holds {values.dtype}; a multi_categorical column is a list or a delimited string")
                if config.delimiter is None:
                    raise InvalidInputError(f"{where} is a string column: set features.{name}.delimiter (e.g. \"|\")")
                values = values.str.split(config.delimiter).list.eval(pl.element().str.strip_chars())
            values = values.cast(pl.List(pl.Utf8)).list.eval(pl.element().filter(pl.element() != ""))
        elif config.kind == "text":
            if values.dtype != pl.Utf8:
                raise InvalidInputError(f"{where} holds {values.dtype}; a text feature needs a string column")
            if not values.fill_null("").str.strip_chars().str.len_chars().gt(0).any():
                raise InvalidInputError(f"{where}: the text is empty in every row")
            values = tokenizer.tokenize(values)
            if config.max_tokens is not None:
                if report is not None:
                    report["tokens_cut"] = int((values.list.len() - config.max_tokens).clip(lower_bound=0).sum())
                values = values.list.head(config.max_tokens)
    rows = pl.int_range(0, len(values), dtype=pl.Int64, eager=True)
    flat = pl.DataFrame({"v": values, "row": rows})
    if isinstance(values.dtype, pl.List):
        flat = flat.explode("v")
    flat = flat.drop_nulls("v")
    return flat["v"], flat["row"]


def _numbers(frame: pl.DataFrame, name: str, config: FeatureConfig) -> np.ndarray:
    """The numeric feature's values as float64 (NaN for nulls); a non-number names its first row."""
    import polars as pl

    series = _column(frame, config.table, name, config)
    if isinstance(series.dtype, pl.Categorical | pl.Enum):
        series = series.cast(pl.Utf8)
    if not (series.dtype.is_numeric() or series.dtype == pl.Utf8 or series.dtype == pl.Null):
        raise InvalidInputError(f"{_source(config.table, config.column or name, name)} holds {series.dtype}, not numbers")
    converted = as_numbers(series, _source(config.table, config.column or name, name))
    return converted.fill_null(float("nan")).to_numpy().astype(np.float64)


# ------------------------------------------------------------------------------------------ fitted
@dataclass
class FittedFeature:
    """One feature fitted on the training tables.

    Attributes:
        name: KJT key; its table is ``t_<name>``.
        config: the declaration.
        vocabulary: value strings taking rows ``offset..offset+V-1`` (``None`` for numeric features).
        edges: bucket edges of a numeric feature (``None`` otherwise).
        tokenizer: the saved tokenizer JSON of a text feature using a tokenizers model.
        embedding_dim: columns of its table.
        pooling: ``sum`` or ``mean``.
        report: counts from fitting (rows, nulls, distinct values, merged values, ...).
    """

    name: str
    config: FeatureConfig
    vocabulary: list[str] | None
    edges: list[float] | None
    tokenizer: str | None
    embedding_dim: int
    pooling: str
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def offset(self) -> int:
        """First row of a known value: 1 with the out-of-vocabulary row 0, else 0."""
        return 1 if self.config.oov_bucket else 0

    @property
    def num_embeddings(self) -> int:
        size = len(self.vocabulary) if self.vocabulary is not None else len(self.edges or []) + 1
        return size + self.offset

    @property
    def multi_valued(self) -> bool:
        return self.config.kind in ("multi_categorical", "text")

    @property
    def tower(self) -> str:
        return TABLES[self.config.table]

    def _tokenizer(self) -> Any:
        c = self.config
        return load_tokenizer(c.tokenizer or "regex", c.pattern, c.lowercase is not False, self.tokenizer)

    def encode(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(values, offsets)``: the table rows of every entity of ``frame`` (``N`` rows), CSR (offsets N+1)."""
        import polars as pl

        n = frame.height
        if self.config.kind == "numeric":
            values = self._bucket(_numbers(frame, self.name, self.config))
            return values, np.arange(n + 1, dtype=np.int64)
        strings, rows = _bags(frame, self.name, self.config, self._tokenizer() if self.config.kind == "text" else None)
        vocabulary = self.vocabulary or []
        if self.config.kind == "id" and strings.len() == n == len(vocabulary) and strings.equals(
                pl.Series("v", vocabulary, dtype=pl.Utf8), check_names=False):
            ids = np.arange(self.offset, self.offset + n, dtype=np.int64)  # the training frame itself: no lookup
            return ids, np.arange(n + 1, dtype=np.int64)
        codes = strings.replace_strict(vocabulary, range(self.offset, self.offset + len(vocabulary)), default=-1,
                                       return_dtype=pl.Int64).to_numpy()
        rows_np = rows.to_numpy()
        known = codes >= 0
        if not self.config.oov_bucket and not known.all():
            first = int(np.flatnonzero(~known)[0])
            raise InvalidInputError(
                f"feature {self.name!r}: value {strings[first]!r} (row {int(rows_np[first]) + 1}) is not in its "
                "vocabulary and the feature has no out-of-vocabulary row (oov_bucket = false)"
            )
        if self.multi_valued:
            codes, rows_np = codes[known], rows_np[known]  # a bag keeps its known values
        else:
            codes = np.where(known, codes, 0)
        lengths = np.bincount(rows_np, minlength=n).astype(np.int64)
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            if not self.config.oov_bucket:
                raise InvalidInputError(
                    f"feature {self.name!r}: row {int(empty[0]) + 1} has no value and the feature has no "
                    "out-of-vocabulary row (oov_bucket = false)"
                )
            # an empty bag or null value becomes the out-of-vocabulary row 0, placed at its row
            rows_np = np.concatenate([rows_np, empty])
            codes = np.concatenate([codes, np.zeros(empty.size, np.int64)])
            order = np.argsort(rows_np, kind="stable")
            codes = codes[order]
            lengths[empty] = 1
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return codes.astype(np.int64), offsets

    def _bucket(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        if missing.any() and not self.config.oov_bucket:
            raise InvalidInputError(
                f"feature {self.name!r}: row {int(np.flatnonzero(missing)[0]) + 1} is null and the feature has no "
                "out-of-vocabulary row (oov_bucket = false)"
            )
        ids = np.searchsorted(np.asarray(self.edges, np.float64), values, side="right").astype(np.int64) + self.offset
        return np.where(missing, 0, ids)

    @classmethod
    def fit(cls, name: str, config: FeatureConfig, frame: pl.DataFrame, embedding_dim: int) -> FittedFeature:
        """Vocabulary or bucket edges of ``config`` on the entity ``frame`` (one row per user / item)."""
        import polars as pl

        pooling = config.pooling or ("mean" if config.kind in ("multi_categorical", "text") else "sum")
        dim = config.embedding_dim or embedding_dim
        report: dict[str, Any] = {"rows": frame.height}
        if config.kind == "numeric":
            values = _numbers(frame, name, config)
            finite = values[np.isfinite(values)]  # quantile edges from finite values; +-inf fall in the end buckets
            report["nulls"] = int(np.isnan(values).sum())
            if finite.size == 0:
                raise InvalidInputError(f"{_source(config.table, config.column or name, name)}: no value in any row")
            if config.boundaries is not None:
                edges = [float(b) for b in config.boundaries]
            else:
                buckets = config.buckets
                assert buckets is not None  # FeatureConfig: a numeric feature has buckets or boundaries
                quantiles = np.quantile(finite, np.linspace(0, 1, int(buckets) + 1)[1:-1])
                edges = [float(e) for e in np.unique(quantiles)]
                if len(edges) + 1 < int(buckets):
                    report["buckets_requested"] = int(buckets)
            report["distinct"] = int(np.unique(finite).size)
            report["buckets"] = len(edges) + 1
            fitted = cls(name, config, None, edges, None, dim, pooling, report)
        else:
            tokenizer = None
            if config.kind == "text":
                tok = load_tokenizer(config.tokenizer or "regex", config.pattern, config.lowercase is not False)
                tokenizer = tok.to_json()
            strings, rows = _bags(frame, name, config, tok if config.kind == "text" else None, report)
            report["nulls"] = int(frame.height - rows.n_unique()) if frame.height else 0
            if config.kind == "id":
                vocabulary = strings.to_list()
                report["distinct"] = len(vocabulary)
            else:
                if config.kind == "categorical" and config.truncate is not None:
                    original = _column(frame, config.table, name, config).cast(pl.Utf8).drop_nulls().n_unique()
                    report["merged_by_truncate"] = int(original - strings.n_unique())
                counts = strings.value_counts(name="n").rename({strings.name: "v"})
                report["distinct"] = counts.height
                kept = counts.filter(pl.col("n") >= (config.min_count or 1))
                if config.max_size is not None:
                    kept = kept.sort(["n", "v"], descending=[True, False]).head(config.max_size)
                if counts.height == 0:
                    raise InvalidInputError(f"{_source(config.table, config.column or name, name)}: no value in any row")
                vocabulary = natural_order(kept["v"], frame, config, name)
                report["merged_into_oov"] = counts.height - len(vocabulary)
                report["rows_with_oov_values"] = int(
                    rows.filter(~strings.is_in(vocabulary)).n_unique()) if report["merged_into_oov"] else 0
                if not vocabulary:
                    raise InvalidInputError(
                        f"{_source(config.table, config.column or name, name)}: no value passes min_count = "
                        f"{config.min_count} (the most frequent is seen {int(cast('int | None', counts['n'].max()) or 0)} times)"
                    )
            fitted = cls(name, config, vocabulary, None, tokenizer, dim, pooling, report)
        return fitted

    def lossy(self) -> list[str]:
        """One sentence per lossy choice of this feature (empty when nothing was merged or cut)."""
        r, out = self.report, []
        if r.get("merged_by_truncate"):
            out.append(f"truncate = {self.config.truncate} merged {r['merged_by_truncate']} distinct values")
        if r.get("merged_into_oov"):
            out.append(f"the vocabulary limits (min_count {self.config.min_count or 1}, max_size "
                       f"{self.config.max_size}) sent {r['merged_into_oov']} of {r['distinct']} distinct values "
                       f"({r['rows_with_oov_values']} rows) to the out-of-vocabulary row")
        if r.get("buckets_requested"):
            out.append(f"{r['buckets_requested']} quantile buckets requested, {r['buckets']} distinct "
                       "(repeated values share edges)")
        if self.config.kind == "numeric" and r.get("distinct", 0) > r.get("buckets", 0):
            out.append(f"{r['distinct']} distinct values in {r['buckets']} buckets")
        if r.get("tokens_cut"):
            out.append(f"max_tokens = {self.config.max_tokens} cut {r['tokens_cut']} tokens")
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["config"] = {k: v for k, v in asdict(self.config).items() if v is not None}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedFeature:
        from recplug_recsys.config import from_dict

        data = dict(data)
        data["config"] = from_dict(FeatureConfig, dict(data["config"]), f"schema feature {data.get('name')!r}")
        return cls(**data)


def natural_order(values: pl.Series, frame: pl.DataFrame, config: FeatureConfig, name: str) -> list[str]:
    """The kept values in their natural order: numerically when the source column is numeric, else as strings."""
    import polars as pl

    strings = values.cast(pl.Utf8)
    if config.kind == "categorical" and config.truncate is None:
        dtype = _column(frame, config.table, name, config).dtype
        if dtype.is_numeric():  # sort by the number, keep polars' own text of it (what encode() compares)
            return pl.DataFrame({"v": strings, "k": strings.cast(dtype)}).sort("k")["v"].to_list()
    return strings.sort().to_list()


class FittedSchema:
    """Every fitted feature, in declaration order; users' features first within :attr:`user_features`."""

    def __init__(self, features: Mapping[str, FittedFeature]) -> None:
        self.features = dict(features)

    @property
    def user_features(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.features.items() if f.tower == "user")

    @property
    def item_features(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.features.items() if f.tower == "item")

    @classmethod
    def fit(cls, declared: Mapping[str, FeatureConfig], users: pl.DataFrame, items: pl.DataFrame,
            embedding_dim: int) -> FittedSchema:
        """Fit every declared feature on its table; logs each lossy choice."""
        frames = {"users": users, "items": items}
        fitted = {name: FittedFeature.fit(name, c, frames[c.table], embedding_dim) for name, c in declared.items()}
        schema = cls(fitted)
        for name, feature in fitted.items():
            for sentence in feature.lossy():
                log.warning("feature %s (table t_%s): %s", name, name, sentence)
        return schema

    def table_specs(self, features: Sequence[str], embedding_dim: int | None = None) -> list[TableSpec]:
        """One :class:`TableSpec` ``t_<feature>`` per feature, with its dimension and pooling (``embedding_dim``
        overrides every table's dimension)."""
        out = []
        for name in features:
            f = self.features[name]
            pooling = cast(Literal["sum", "mean"], f.pooling)  # checked by FeatureConfig (and TableSpec)
            out.append(TableSpec(f"t_{name}", f.num_embeddings, embedding_dim or f.embedding_dim, (name,), pooling))
        return out

    def to_json(self) -> str:
        return json.dumps({"format": SCHEMA_FORMAT, "features": [f.to_dict() for f in self.features.values()]})

    @classmethod
    def from_json(cls, text: str) -> FittedSchema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IncompatibleFileError(f"the saved feature schema is not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != SCHEMA_FORMAT:
            raise IncompatibleFileError(f"the saved feature schema is not of format {SCHEMA_FORMAT}")
        try:
            features = [FittedFeature.from_dict(f) for f in data["features"]]
        except (KeyError, TypeError) as exc:
            raise IncompatibleFileError(f"the saved feature schema is incomplete ({exc!r} missing or malformed)") from None
        return cls({f.name: f for f in features})

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per feature: tower, kind, column, table shape and bytes, nulls, lossy choices."""
        out = []
        for name, f in self.features.items():
            out.append({
                "feature": name, "tower": f.tower, "kind": f.config.kind,
                "column": "(id)" if f.config.kind == "id" else (f.config.column or name),
                "table": f"t_{name}", "rows": f.num_embeddings, "dim": f.embedding_dim, "pooling": f.pooling,
                "bytes": f.num_embeddings * f.embedding_dim * 4, "nulls": f.report.get("nulls", 0),
                "lossy": "; ".join(f.lossy()) or "-",
            })
        return out
