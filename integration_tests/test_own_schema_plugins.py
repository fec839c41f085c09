"""SSL and DSL on a schema MovieLens does not have: a generated shop dataset read from CSV files, with a brand,
``|``-delimited tags, description text, price buckets, country and age features (:mod:`recplug_eval.datasets.generated`).

SSL's correlated masking splits whatever item features the schema declares (its mutual information is computed
over them) and drops values of the bags; DSL budgets every table the schema builds."""

from __future__ import annotations

import json
import math

import pytest
import torch
from recplug_eval.datasets.generated import SHOP_FEATURES, ShopSpec, shop_overrides, write_shop
from recplug_recsys.config import load_config
from recplug_recsys.trainer import Trainer

SMALL = ["model.embedding_dim=16", "model.hidden=[32]", "model.output_dim=16", "batch_size=128",
         "max_steps_per_epoch=6", "progress=false", "eval_ks=[10]", "epochs=2"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return write_shop(tmp_path_factory.mktemp("shop"), ShopSpec(num_users=300, num_items=200, num_interactions=8000))


def test_ssl_masks_the_declared_item_features(shop, tmp_path) -> None:
    torch.set_num_threads(1)
    ssl = {"name": "ssl-cfm", "options": {"batch_size": 64, "weight": 0.3, "value_dropout": 0.2}}
    config = load_config(None, [*SMALL, *shop_overrides(shop), f"regularizers=[{json.dumps(ssl)}]",
                                f'output_dir="{tmp_path}"'])
    trainer = Trainer(config)
    reg = trainer.regularizers[0]
    item_features = {n for n, o in SHOP_FEATURES.items() if o["table"] == "items"}
    # the correlated split covers every declared item feature, in two non-empty groups
    groups = [set(g) for g in reg.splitter.split(torch.Generator().manual_seed(0))]
    assert set().union(*groups) == item_features and all(groups)
    assert set(reg.dropout_features) == {"tags", "description"}  # value dropout applies to the bags
    result = trainer.fit()
    history = json.loads((tmp_path / "history.json").read_text())
    assert math.isfinite(history[-1]["ssl-cfm/infonce"]) and history[-1]["ssl-cfm/infonce"] > 0
    assert all(math.isfinite(v) for v in result["test"].values())


def test_dsl_budgets_every_schema_table(shop, tmp_path) -> None:
    torch.set_num_threads(1)
    dsl = {"name": "dsl", "options": {"density": 0.2, "delta_t": 2, "total_steps": 12, "dense_below_rows": 0,
                                      "seed": 0}}
    config = load_config(None, [*SMALL, *shop_overrides(shop), f"compressor={json.dumps(dsl)}", "table_optimizer=adagrad",
                                f'output_dir="{tmp_path}"'])
    trainer = Trainer(config)
    trainer.fit()
    tables = {f"t_{name}" for name in SHOP_FEATURES}
    assert set(trainer.compressor.masks) == tables
    for tower in (trainer.model.user_ebc, trainer.model.item_ebc):
        for key, bag in tower.embedding_bags.items():
            mask = trainer.compressor.masks[key]
            assert int(mask.sum()) == trainer.compressor.budgets[key] > 0
            assert torch.all(bag.weight.detach()[~mask] == 0)


@pytest.mark.parametrize("name", ["dense", "hashing", "int4", "int8", "magnitude-prune", "multiplexed", "quotient-remainder"])
def test_every_compressor_trains_and_exports_the_schema_tables(shop, tmp_path, name) -> None:
    """Each compressor builds, trains and exports whatever tables the schema declares (not MovieLens's)."""
    torch.set_num_threads(1)
    options = {"density": 0.3} if name in ("magnitude-prune", "hashing", "multiplexed", "quotient-remainder") else {}
    compressor = {"name": name, "options": options}
    config = load_config(None, [*SMALL, "epochs=1", *shop_overrides(shop), f"compressor={json.dumps(compressor)}",
                                f'output_dir="{tmp_path / "run"}"'])
    trainer = Trainer(config)
    result = trainer.fit()
    assert all(math.isfinite(v) for v in result["test"].values())
    info = trainer.compressor.export(trainer.model.item_ebc, tmp_path / "items.pt")
    assert info.serving_bytes > 0 and info.path.exists()
    names = {t.name for t in trainer.model.item_tables}
    assert names == {f"t_{n}" for n, o in SHOP_FEATURES.items() if o["table"] == "items"}
