"""Bring your own data: a dataset that is not MovieLens (other columns, other features) through the whole
pipeline: data check, training, evaluation with the saved schema, unseen values, and bad schemas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from recplug.cli.main import main
from recplug.errors import ConfigError, InvalidInputError
from recplug.manager import load_plugin_manager
from recplug_eval.datasets.generated import shop_overrides
from recplug_recsys.data import declared_features, load_run_data, open_dataset
from recplug_recsys.features import FeatureSpace
from recplug_recsys.schema import FittedSchema
from recplug_recsys.trainer import Trainer, evaluate_run


@pytest.fixture(scope="module")
def pm():
    return load_plugin_manager()


def test_schema_builds_one_table_and_key_per_feature(shop_config, pm) -> None:
    data = load_run_data(shop_config(), pm)
    space = data.features
    assert space.user_features == ("customer_id", "country", "age")
    assert space.item_features == ("sku_id", "brand", "tags", "description", "price")
    specs = {t.name: t for t in space.table_specs(space.item_features)}
    assert set(specs) == {"t_sku_id", "t_brand", "t_tags", "t_description", "t_price"}
    assert specs["t_tags"].pooling == "mean" and specs["t_brand"].pooling == "sum"
    assert specs["t_price"].num_embeddings == 1 + 8  # the null row and 8 quantile buckets
    kjt = space.item_kjt(torch.arange(5))
    assert kjt.keys() == list(space.item_features)
    # countries sharing a prefix stay apart; unknown ages go to the null row, not to the youngest bucket
    countries = space.vocabularies["country"]
    assert len({countries["united kingdom"], countries["united states"], countries["austria"],
                countries["australia"]}) == 4
    users = data.dataset.users()
    unknown = users.with_row_index().filter(pl.col("age").is_null())["index"].to_list()
    known = users.with_row_index().filter(pl.col("age").is_not_null())["index"].to_list()
    ages = space.columns["age"].values
    assert unknown and (ages[unknown] == 0).all() and (ages[known] > 0).all()
    # the tags bag of every item holds its delimited values
    tags = users = data.dataset.items()["tags"].to_list()
    vocab = space.vocabularies["tags"]
    values, lengths = space.columns["tags"].gather(torch.tensor([0]))
    assert values.tolist() == [vocab[t] for t in tags[0].split("|")] and lengths.tolist() == [len(tags[0].split("|"))]


def test_train_and_evaluate_from_the_command_line(shop_folder: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    sets = [a for s in [*shop_overrides(shop_folder), "epochs=2", "batch_size=256", "progress=false",
                         "model.embedding_dim=16", "model.hidden=[32]", "model.output_dim=16", "eval_ks=[10,20]"]
            for a in ("--set", s)]
    assert main(["train", *sets, "--output-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["R@20"] > 0.1  # the generated preferences are learnable (random ~0.1 at 200 items)
    saved = FittedSchema.from_json((run / "schema.json").read_text())
    assert list(saved.features) == ["customer_id", "country", "age", "sku_id", "brand", "tags", "description", "price"]
    capsys.readouterr()
    assert main(["recsys-eval", str(run)]) == 0
    assert "R@10" in capsys.readouterr().out
    assert evaluate_run(run)["R@20"] == pytest.approx(metrics["test"]["R@20"])


def test_evaluation_applies_the_saved_schema_to_changed_files(shop_folder: Path, tmp_path: Path, shop_config) -> None:
    folder = tmp_path / "shop"
    shutil.copytree(shop_folder, folder)
    config = shop_config("epochs=1", f"data.dataset={json.dumps(str(folder))}")
    Trainer(config).fit()
    before = (Path(config.output_dir) / "schema.json").read_text()
    items = pl.read_csv(folder / "items.csv")
    items = items.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("brand-never-seen"))
                               .otherwise(pl.col("brand")).alias("brand"))
    items.write_csv(folder / "items.csv")
    result = evaluate_run(config.output_dir)  # applies the saved schema: the unseen brand takes row 0
    assert result["R@10"] >= 0
    schema = FittedSchema.from_json(before)
    space = FeatureSpace(schema, open_dataset(config, load_plugin_manager()).users(), pl.read_csv(folder / "items.csv")
                         .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("item_id"),
                                       pl.col("sku").alias("raw_item_id")))
    assert space.columns["brand"].values[0] == 0 and space.columns["brand"].values[1] > 0
    assert "brand-never-seen" not in schema.features["brand"].vocabulary


def test_data_check_prints_schema_tables_and_splits(shop_folder: Path, capsys) -> None:
    sets = [a for s in shop_overrides(shop_folder) for a in ("--set", s)]
    assert main(["data", "check", *sets, "--set", "features.description.max_size=5"]) == 0
    out = capsys.readouterr().out
    assert "| t_description" in out and "train rows" in out and "items only in valid or test" in out
    assert "sent " in out and "to the out-of-vocabulary row" in out  # max_size 5 merged words: reported
    assert main(["data", "check", *sets, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {r["feature"] for r in report["features"]} >= {"brand", "tags", "description", "price"}
    assert report["data"]["train_rows"] + report["data"]["valid_rows"] + report["data"]["test_rows"] == \
        pl.read_csv(shop_folder / "interactions.csv").height


def test_wordpiece_tokenizer_and_truncation(shop_config, pm) -> None:
    config = shop_config("features.description.tokenizer=\"minilm-wordpiece\"", "features.description.max_tokens=3")
    feature = load_run_data(config, pm).features.schema.features["description"]
    assert feature.tokenizer is not None and '"WordPiece"' in feature.tokenizer
    assert feature.report["tokens_cut"] > 0
    assert any("max_tokens = 3 cut" in s for s in feature.lossy())


def test_vocabulary_limits_and_oov(shop_config, pm) -> None:
    space = load_run_data(shop_config("features.brand.max_size=4"), pm).features
    brand = space.schema.features["brand"]
    assert len(brand.vocabulary) == 4 and brand.num_embeddings == 5
    assert brand.report["merged_into_oov"] == brand.report["distinct"] - 4
    assert (space.columns["brand"].values == 0).any()  # the brands beyond the top 4 share row 0


@pytest.mark.parametrize(("override", "message"), [
    ('features.brand.column="brnd"', r"feature 'brand': the items table has no column 'brnd'\. Did you mean 'brand'\?"),
    ('features.brand.kind="categoricl"', r"features\.brand\.kind must be one of .* Did you mean 'categorical'\?"),
    ('features.tags.delimiter=null', r"column 'tags' \(feature 'tags'\) is a string column: set features\.tags\.delimiter"),
    ('features.description.tokenizer="bert-base-uncased"', r"tokenizer 'bert-base-uncased' is not installed"),
    ('features.brand.delimiter="|"', r"features\.brand\.delimiter applies to kind multi_categorical, not 'categorical'"),
    ('features.price.kind="text"', r"features\.price\.buckets applies to kind numeric"),
    ('features.brand.kind="numeric"', r"features\.brand: a numeric feature needs buckets"),
    ('features.description.min_count=100000', r"no value passes min_count = 100000"),
])
def test_bad_schemas_name_the_feature(shop_config, pm, override: str, message: str) -> None:
    with pytest.raises((ConfigError, InvalidInputError), match=message):
        load_run_data(shop_config(override), pm)


def test_numeric_wrong_dtype_names_the_row(shop_config, pm, tmp_path: Path, shop_folder: Path) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(shop_folder, folder)
    items = pl.read_csv(folder / "items.csv").with_columns(pl.col("price").cast(pl.Utf8))
    items = items.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("cheap")).otherwise(pl.col("price"))
                               .alias("price"))
    items.write_csv(folder / "items.csv")
    with pytest.raises(InvalidInputError, match=r"column 'price' \(feature 'price'\) must be numeric; row 3 holds 'cheap'"):
        load_run_data(shop_config(f"data.dataset={json.dumps(str(folder))}"), pm)


def test_empty_text_everywhere(shop_config, pm, tmp_path: Path, shop_folder: Path) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(shop_folder, folder)
    pl.read_csv(folder / "items.csv").with_columns(pl.lit("").alias("description")).write_csv(folder / "items.csv")
    with pytest.raises(InvalidInputError, match=r"column 'description' \(feature 'description'\): the text is empty"):
        load_run_data(shop_config(f"data.dataset={json.dumps(str(folder))}"), pm)


def test_unknown_dataset_says_how_to_bring_your_own(pm) -> None:
    from recplug_recsys.config import load_config

    with pytest.raises(ConfigError, match=r"unknown dataset 'my-shop'.*a folder with interactions\.csv"):
        open_dataset(load_config(None, ["data.dataset=my-shop"]), pm)
    with pytest.raises(ConfigError, match=r"data\.dataset 'runs/nowhere': no such folder"):
        open_dataset(load_config(None, ["data.dataset=runs/nowhere"]), pm)
    with pytest.raises(ConfigError, match=r"data\.user_column apply to your own files"):
        open_dataset(load_config(None, ["data.user_column=customer"]), pm)


def test_shipped_schema_overrides_and_drops(pm) -> None:
    from recplug_recsys.config import load_config

    config = load_config(None, ["data.dataset=ml-100k", "features.user_zip.truncate=5", "features.item_title=false"])
    declared = declared_features(config, open_dataset(config, pm))
    assert declared["user_zip"].truncate == 5 and "item_title" not in declared
    assert list(declared)[-1] == "item_decade"  # the others keep their shipped order


def test_export_serves_new_rows_with_the_saved_schema(shop_config, tmp_path: Path, capsys) -> None:
    from recplug_recsys.export import ExportedTwoTower
    from recplug_recsys.trainer import embed_all

    config = shop_config("epochs=1")
    trainer = Trainer(config)
    trainer.fit()
    out = tmp_path / "export"
    assert main(["recsys-export", config.output_dir, str(out)]) == 0
    first = (out / "LATEST").read_text().strip()
    served = ExportedTwoTower(out)
    dataset = trainer.data.dataset
    items = pl.read_csv(Path(config.data.dataset) / "items.csv")
    best = torch.load(Path(config.output_dir) / "best.pt", weights_only=True)
    trainer.model.load_state_dict(best["model"])
    _, expected = embed_all(trainer.model, trainer.data.features)
    order = dataset.items()["raw_item_id"].to_list()  # dense order; the CSV is in the same order here
    assert items["sku"].cast(pl.Utf8).to_list() == order
    torch.testing.assert_close(served.embed("item", items), expected)
    # a new item with an unseen brand and tag: encoded with row 0, no refit
    new = items.head(1).with_columns(pl.lit("sku-new").alias("sku"), pl.lit("brand-unseen").alias("brand"),
                                     pl.lit("tag-unseen").alias("tags"))
    assert served.embed("item", new).shape == (1, config.model.output_dim)
    # a new export swaps in a new version, keeps the previous one (a reader may be loading it) and removes older
    # ones, never a folder it did not write; a damaged file is caught
    (out / "vendor").mkdir()
    assert main(["recsys-export", config.output_dir, str(out)]) == 0
    assert main(["recsys-export", config.output_dir, str(out)]) == 0
    second = (out / "LATEST").read_text().strip()
    assert second != first and not (out / first).exists() and (out / "vendor").is_dir()
    assert len([p for p in out.iterdir() if p.is_dir()]) == 3  # vendor, the previous and the current version
    with pytest.raises(InvalidInputError, match="items table is empty"):
        served.embed("item", items.head(0))
    (out / second / "towers.pt").write_bytes(b"damaged")
    with pytest.raises(Exception, match="checksum does not match"):
        ExportedTwoTower(out)


def test_eval_users_scores_a_fixed_sample(shop_config) -> None:
    trainer = Trainer(shop_config("epochs=1", "eval_users=50"))
    result = trainer.fit()
    assert result["test"]["num_users"] == 50
    again = Trainer(shop_config("epochs=1", "eval_users=50", "resume=false")).fit()
    assert again["test"] == result["test"]  # the same users, the same model


def test_a_dataset_plugin_as_the_readme_writes_it(shop_folder: Path, tmp_path: Path) -> None:
    """The README's worked example: an InteractionFiles subclass with a shipped schema, registered by a hook."""
    from recplug import DatasetSpec, hookimpl
    from recplug_eval.datasets.interaction_files import InteractionFiles
    from recplug_recsys.config import load_config

    class Clicks(InteractionFiles):
        def __init__(self, cache_dir: str = "unused") -> None:
            super().__init__(shop_folder / "interactions.csv", items=shop_folder / "items.csv",
                             user_column="customer", item_column="sku", timestamp_column="ts")

        def default_config(self) -> dict:
            return {"features": {"visitor": {"table": "users", "kind": "id"},
                                 "page": {"table": "items", "kind": "id"},
                                 "section": {"table": "items", "kind": "categorical", "column": "brand"}}}

    class Plugin:
        @hookimpl
        def recplug_datasets(self):
            return [DatasetSpec("clicks", Clicks, "clicks of my site", kind="interactions")]

    pm = load_plugin_manager()
    pm.register_plugin(Plugin(), "my-datasets", "my-datasets", "0")
    config = load_config(None, ["data.dataset=clicks", "epochs=1", "batch_size=256", "progress=false",
                                "model.embedding_dim=8", "model.hidden=[16]", "model.output_dim=8",
                                f'output_dir="{tmp_path / "run"}"'])
    trainer = Trainer(config, pm=pm)
    assert trainer.data.features.item_features == ("page", "section")
    assert trainer.fit()["test"]["R@10"] >= 0


def test_a_folder_without_features_trains_on_the_ids(tmp_path: Path, shop_folder: Path) -> None:
    folder = tmp_path / "ids"
    folder.mkdir()
    shutil.copy(shop_folder / "interactions.csv", folder / "interactions.csv")
    from recplug_recsys.config import load_config

    config = load_config(None, [f"data.dataset={json.dumps(str(folder))}", 'data.user_column="customer"',
                                'data.item_column="sku"', "epochs=1", "batch_size=256", "progress=false",
                                f'output_dir="{tmp_path / "run"}"'])
    trainer = Trainer(config)
    assert trainer.data.features.user_features == ("user_id",) and trainer.data.features.item_features == ("item_id",)
    trainer.fit()


def _fit(frame: pl.DataFrame, **options) -> tuple:
    from recplug_recsys.schema import FeatureConfig, FittedFeature

    config = FeatureConfig(**{"table": "items", **options})
    config.check("f")
    feature = FittedFeature.fit("f", config, frame, 8)
    return feature, feature.encode(frame)


def test_schema_edge_cases() -> None:
    from recplug_recsys.schema import FeatureConfig

    # float categories: the vocabulary holds polars' own text of each number, so every value finds its row
    feature, (values, _) = _fit(pl.DataFrame({"score": [0.00001, 0.5, None]}), kind="categorical", column="score")
    assert values.tolist() == [1, 2, 0]
    # quantile edges come from finite values only; +-inf fall in the end buckets
    feature, (values, _) = _fit(pl.DataFrame({"p": [1.0, 2.0, 3.0, 4.0, float("inf")]}), kind="numeric", column="p",
                                buckets=2)
    assert all(np.isfinite(feature.edges)) and values[-1] == values.max()
    # a null id at serving time takes row 0 instead of shifting the others
    ids = pl.DataFrame({"raw_item_id": ["a", "b"], "item_id": [0, 1]})
    feature, _ = _fit(ids, kind="id")
    served = pl.DataFrame({"raw_item_id": ["a", None, "b"], "item_id": [0, 1, 2]})
    assert feature.encode(served)[0].tolist() == [1, 0, 2]
    # capitals are kept when the text is not lower-cased
    _, (values, offsets) = _fit(pl.DataFrame({"t": ["Toy Story", "Toy"]}), kind="text", column="t", lowercase=False)
    assert feature is not None and np.diff(offsets).tolist() == [2, 1]
    with pytest.raises(ConfigError, match="not a regular expression polars can run"):
        FeatureConfig("items", "text", pattern="(?<=a)b").check("t")
    with pytest.raises(ConfigError, match="need oov_bucket = true"):
        FeatureConfig("items", "categorical", min_count=2, oov_bucket=False).check("c")
    with pytest.raises(ConfigError, match="an id feature reads the dataset's id column"):
        FeatureConfig("items", "id", column="sku").check("i")
    with pytest.raises(InvalidInputError, match="no value in any row"):
        _fit(pl.DataFrame({"c": [None, None]}, schema={"c": pl.Utf8}), kind="categorical", column="c")
    from recplug.errors import IncompatibleFileError

    with pytest.raises(IncompatibleFileError, match="incomplete"):
        FittedSchema.from_json('{"format": 1}')


def test_leading_zero_ids_stay_text(tmp_path: Path) -> None:
    from recplug_eval.datasets.interaction_files import InteractionFiles

    folder = tmp_path / "z"
    folder.mkdir()
    (folder / "interactions.csv").write_text("u,i\n1,007\n1,010\n2,007\n")
    (folder / "items.csv").write_text("i,c\n007,x\n010,y\n")
    data = InteractionFiles.from_folder(folder, user_column="u", item_column="i")
    assert data.items()["raw_item_id"].to_list() == ["007", "010"] and data.items()["c"].to_list() == ["x", "y"]


def test_a_component_name_wins_over_a_local_folder(tmp_path: Path, monkeypatch, pm) -> None:
    from recplug_eval.datasets.movielens import MovieLensDataset
    from recplug_recsys.config import load_config

    (tmp_path / "ml-100k").mkdir()
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_dataset(load_config(None, ["data.dataset=ml-100k"]), pm), MovieLensDataset)


def test_awkward_rows_are_counted_and_evaluated(tmp_path: Path, pm) -> None:
    """A temporal cut leaves users with no training row and items seen only after it: both are evaluated."""
    from recplug_eval.datasets.generated import ShopSpec, write_shop
    from recplug_recsys.config import load_config
    from recplug_recsys.data import split_stats

    folder = write_shop(tmp_path / "sparse", ShopSpec(num_users=600, num_items=300, num_interactions=2500, seed=3))
    config = load_config(None, [*shop_overrides(folder), "data.split=\"temporal\"", "epochs=1", "batch_size=128",
                                "progress=false", "model.embedding_dim=8", "model.hidden=[16]", "model.output_dim=8",
                                f'output_dir="{tmp_path / "run"}"'])
    trainer = Trainer(config, pm=pm)
    stats = split_stats(trainer.data)
    assert stats["evaluated_users_without_training_rows"] > 0 and stats["items_only_in_valid_or_test"] > 0
    result = trainer.fit()
    assert result["test"]["num_users"] == trainer.data.test["user_id"].n_unique()  # every test user is scored


@pytest.mark.parametrize("bad", ["RR@10", "recal@20", "middle/R@20", "R", "AP@20"])
def test_select_metric_is_checked_before_training(bad: str) -> None:
    from recplug_recsys.config import load_config

    with pytest.raises(ConfigError, match="select_metric must be"):
        load_config(None, ["eval_ks=[20]", f'select_metric="{bad}"'])
    assert load_config(None, ["eval_ks=[20]", 'select_metric="tail/nDCG@20"']).select_metric == "tail/nDCG@20"
    assert load_config(None, ["eval_ks=[20]", 'select_metric="MRR@20"']).select_metric == "RR@20"  # ir-measures alias


@pytest.mark.parametrize(("old", "new"), [("mrr@10", "RR@10"), ("tail/ndcg@20", "tail/nDCG@20"), ("hit@10", "Success@10"),
                                          ("recall@20", "R@20"), ("precision@10", "P@10")])
def test_old_metric_names_say_the_new_one(old: str, new: str) -> None:
    from recplug_recsys.config import load_config

    with pytest.raises(ConfigError, match=f"^select_metric '{old}' is an old measure name; use '{new}'$"):
        load_config(None, ["eval_ks=[10, 20]", f'select_metric="{old}"'])


def test_log_q_weight_scales_the_correction(shop_config) -> None:
    from recplug_recsys.config import load_config

    with pytest.raises(ConfigError, match=r"model\.log_q_weight must be in \[0, 4\]"):
        load_config(None, ["model.log_q_weight=-1"])
    full, half = (Trainer(shop_config("model.log_q=true", f"model.log_q_weight={w}")) for w in (1.0, 0.5))
    users, items = full.data.train_pairs
    rows = torch.arange(128)
    a = full.train_step(users[rows], items[rows])["loss/main"]
    b = half.train_step(users[rows], items[rows])["loss/main"]
    assert a != pytest.approx(b)  # the same model and batch: only the correction's weight differs
