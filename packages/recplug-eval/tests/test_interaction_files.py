"""The generic files loader: ids, splits, the defined awkward cases and one-line errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from recplug.errors import ConfigError, InvalidInputError
from recplug.manager import load_plugin_manager
from recplug_eval.datasets.generated import ShopSpec, write_shop
from recplug_eval.datasets.interaction_files import InteractionFiles, interaction_files
from recplug_eval.datasets.splits import split_interactions, temporal_labels

INTER = pl.DataFrame({"u": ["a", "a", "a", "b", "b", "c"], "i": [10, 11, 12, 10, 13, 14],
                      "t": [1, 2, 3, 4, 5, 6], "w": [1.0, 2.0, 1.0, 1.0, 1.0, 3.0]})
ITEMS = pl.DataFrame({"i": [12, 11, 10, 13], "colour": ["red", "blue", None, "red"]})


def _write(folder: Path, **frames: pl.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.write_csv(folder / f"{name}.csv")
    return folder


def test_dense_ids_follow_the_feature_table_then_the_interactions(tmp_path: Path) -> None:
    data = InteractionFiles.from_folder(_write(tmp_path, interactions=INTER, items=ITEMS), user_column="u",
                                        item_column="i", timestamp_column="t", weight_column="w")
    items = data.items()
    assert items["raw_item_id"].to_list() == ["12", "11", "10", "13", "14"]  # 14 has no feature row: appended
    assert items["item_id"].to_list() == [0, 1, 2, 3, 4]
    assert items["colour"].to_list() == ["red", "blue", None, "red", None]
    assert data.report["items_without_features"] == 1
    assert data.users()["raw_user_id"].to_list() == ["a", "b", "c"]
    inter = data.interactions()
    assert inter["item_id"].to_list() == [2, 1, 0, 2, 3, 4] and inter["user_id"].to_list() == [0, 0, 0, 1, 1, 2]
    assert inter["weight"].to_list() == INTER["w"].to_list()
    component = load_plugin_manager().create("dataset", "files", path=str(tmp_path), user_column="u", item_column="i")
    assert component.num_items == 5


def test_splits_temporal_column_files_and_loo(tmp_path: Path) -> None:
    folder = write_shop(tmp_path / "shop", ShopSpec(num_users=60, num_items=40, num_interactions=1500))
    data = InteractionFiles.from_folder(folder, user_column="customer", item_column="sku", timestamp_column="ts")
    temporal = data.split("temporal")
    assert temporal.train["timestamp"].max() <= temporal.valid["timestamp"].min()
    assert temporal.valid["timestamp"].max() <= temporal.test["timestamp"].min()
    total = data.interactions().height
    assert temporal.train.height == total - int(0.1 * total) * 2
    loo = data.split("loo")
    assert loo.test["user_id"].n_unique() == loo.test.height
    # a split column, and the same split as three files, give the same frames
    inter = pl.read_csv(folder / "interactions.csv")
    labels = np.array(["train", "valid", "test"])[temporal_labels(inter["ts"].to_numpy())]
    _write(tmp_path / "col", interactions=inter.with_columns(pl.Series("part", labels)))
    by_column = InteractionFiles(tmp_path / "col" / "interactions.csv", user_column="customer", item_column="sku",
                                 split_column="part").split("column")
    parts = {k: inter.filter(pl.Series(labels) == k) for k in ("train", "valid", "test")}
    _write(tmp_path / "files", **parts)
    by_files = InteractionFiles(tmp_path / "files" / "train.csv", user_column="customer", item_column="sku",
                                valid_interactions=tmp_path / "files" / "valid.csv",
                                test_interactions=tmp_path / "files" / "test.csv").split("files")
    for a, b in zip((by_column.train, by_column.valid, by_column.test), (by_files.train, by_files.valid, by_files.test),
                    strict=True):
        assert a["raw_item_id"].to_list() == b["raw_item_id"].to_list() and a.height > 0


def test_temporal_split_can_leave_users_without_training_rows() -> None:
    frame = pl.DataFrame({"user_id": [0, 0, 0, 0, 0, 0, 0, 0, 1, 2], "item_id": list(range(10)),
                          "timestamp": list(range(10))})
    split = split_interactions(frame, "temporal")
    assert split.train["user_id"].unique().to_list() == [0]
    assert set(split.test["user_id"].to_list()) == {2}  # user 2 is evaluated with no training row


def _bad(tmp_path: Path, inter: pl.DataFrame = INTER, items: pl.DataFrame | None = None, **options) -> InteractionFiles:
    frames = {"interactions": inter} | ({"items": items} if items is not None else {})
    options = {"user_column": "u", "item_column": "i"} | options
    data = InteractionFiles.from_folder(_write(tmp_path, **frames), **options)
    data.interactions()
    return data


@pytest.mark.parametrize(("case", "message"), [
    ({"user_column": "uu"}, r"interactions\.csv: no column 'uu' \(data\.user_column\)\. Did you mean 'u'\?"),
    ({"inter": INTER.with_columns(pl.lit(None, pl.Utf8).alias("u"))}, r"column 'u' holds Null|null id at row 1"),
    ({"inter": INTER.with_columns(pl.Series("u", ["a", None, "a", "b", "b", "c"]))}, r"column 'u' has a null id at row 2"),
    ({"inter": pl.concat([INTER, INTER.head(1)])}, r"interactions\.csv: duplicate rows, first at row 7"),
    ({"inter": INTER.head(0)}, r"interactions\.csv: the table is empty"),
    ({"inter": INTER.with_columns(pl.Series("w", [1.0, -2.0, 1.0, 1.0, 1.0, 1.0])), "weight_column": "w"},
     r"column 'w' is negative at row 2"),
    ({"inter": INTER.with_columns(pl.Series("t", ["1", "2", "x", "4", "5", "6"])), "timestamp_column": "t"},
     r"column 't' must be numeric; row 3 holds 'x'"),
    ({"items": pl.concat([ITEMS, pl.DataFrame({"i": [99], "colour": ["red"]})])},
     r"items\.csv: 1 item id\(s\) occur in no interaction, first '99' at row 5; set data\.unmatched_feature_rows"),
    ({"items": pl.concat([ITEMS, ITEMS.head(1)])}, r"items\.csv: duplicate i '12', first repeated at row 5"),
])
def test_bad_files_get_one_line_errors(tmp_path: Path, case: dict, message: str) -> None:
    case = dict(case)
    inter, items = case.pop("inter", INTER), case.pop("items", None)
    with pytest.raises(InvalidInputError, match=message) as info:
        _bad(tmp_path, inter, items, **case)
    assert "\n" not in str(info.value)


def test_unknown_split_labels_and_non_utf8(tmp_path: Path) -> None:
    labelled = INTER.with_columns(pl.Series("s", ["train", "train", "test", "valid", "holdout", "test"]))
    data = _bad(tmp_path / "a", labelled, split_column="s")
    with pytest.raises(InvalidInputError, match=r"column 's'.*unknown split label 'holdout' at row 5"):
        data.split("column")
    folder = _write(tmp_path / "b", interactions=INTER)
    (folder / "interactions.csv").write_bytes((folder / "interactions.csv").read_bytes() + b"d,\xff\xfe,7,1.0\n")
    with pytest.raises(InvalidInputError, match=r"interactions\.csv: cannot be read"):
        InteractionFiles.from_folder(folder, user_column="u", item_column="i").interactions()


def test_unmatched_rows_keep_or_drop_and_bad_options(tmp_path: Path) -> None:
    items = pl.concat([ITEMS, pl.DataFrame({"i": [99], "colour": ["red"]})])
    kept = _bad(tmp_path / "k", items=items, unmatched_feature_rows="keep")
    assert "99" in kept.items()["raw_item_id"].to_list()
    dropped = _bad(tmp_path / "d", items=items, unmatched_feature_rows="drop")
    assert "99" not in dropped.items()["raw_item_id"].to_list()
    with pytest.raises(ConfigError, match="unmatched_feature_rows must be one of error, keep, drop"):
        InteractionFiles(tmp_path / "k" / "interactions.csv", unmatched_feature_rows="ignore")
    with pytest.raises(ConfigError, match=r"a folder .* or an interactions file"):
        interaction_files()
    with pytest.raises(InvalidInputError, match="no interactions file"):
        InteractionFiles.from_folder(tmp_path / "k" / ".." )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path": 3}, r"dataset 'files': option 'path' must be a path \(a string\), got int 3"),
        ({"interactions": ["a.csv"]}, r"option 'interactions' must be a path \(a string\), got list"),
        ({"interactions": "a.csv", "users": 1}, r"option 'users' must be a path"),
        ({"interactions": "a.csv", "user_column": 0}, r"option 'user_column' must be a string, got int 0"),
        ({"interactions": "a.csv", "min_rating": "4"}, r"option 'min_rating' must be a number, got str '4'"),
        ({"interactions": "a.csv", "min_rating": True}, r"option 'min_rating' must be a number, got bool True"),
    ],
)
def test_option_types_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_plugin_manager().create("dataset", "files", **options)


def test_iso_timestamps_become_epoch_seconds(tmp_path: Path) -> None:
    dated = INTER.with_columns(pl.Series("t", ["2024-01-01 00:00:00", "2024-01-02 10:00:00", "2024-01-03 00:00:00",
                                               "2024-01-04 00:00:00", "2024-01-05 00:00:00", "2024-01-06 00:00:00"]))
    data = _bad(tmp_path, dated, timestamp_column="t")
    stamps = data.interactions()["timestamp"].to_list()
    assert stamps[0] == 1704067200 and stamps[1] == 1704067200 + 86400 + 36000 and stamps == sorted(stamps)


def test_non_finite_numbers_are_errors(tmp_path: Path) -> None:
    bad = INTER.with_columns(pl.Series("t", [1.0, 2.0, float("nan"), 4.0, 5.0, 6.0]))
    with pytest.raises(InvalidInputError, match=r"column 't' is not a finite number at row 3"):
        _bad(tmp_path, bad, timestamp_column="t")
