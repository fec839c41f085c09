"""Feature multiplexing: several tables hash into one shared table, exported and counted once."""

from __future__ import annotations

import pytest
import torch
from recplug.errors import ConfigError
from recplug.manager import load_plugin_manager
from recplug.protocols import TableSpec
from recplug.testing.compressor_kit import random_kjt
from recplug_dynamic_sparse.remapped_tables import MultiplexedTables, RemappedEmbeddingBags

TABLES = [TableSpec("t_item", 300, 8, ("item_id",)), TableSpec("t_user", 200, 8, ("user_id", "friend_id")),
          TableSpec("t_city", 120, 4, ("city",)), TableSpec("t_genre", 20, 8, ("genre",))]


def inner_tables(module: torch.nn.Module) -> dict[str, tuple[int, tuple[str, ...]]]:
    (bags,) = [m for m in module.modules() if isinstance(m, RemappedEmbeddingBags)]
    return {c.name: (c.num_embeddings, tuple(c.feature_names)) for c in bags.ebc.embedding_bag_configs()}


def test_tables_of_one_shape_share_one_table_of_the_budget():
    module = MultiplexedTables(density=0.1).build(TABLES)
    tables = inner_tables(module)
    assert tables["multiplexed_0"] == (50, ("item_id", "user_id", "friend_id"))  # floor(0.1 * (300 + 200))
    assert tables["multiplexed_1"] == (12, ("city",))  # another dimension: a group of its own
    assert tables["t_genre"] == (20, ("genre",))  # below dense_below_rows: dense
    (bags,) = [m for m in module.modules() if isinstance(m, RemappedEmbeddingBags)]
    item, user = (p for p in bags.parts if p.original.name in ("t_item", "t_user"))
    assert (item.a, item.b) != (user.a, user.b)  # each table hashes with its own function


def test_listed_groups_share_and_the_rest_stay_dense():
    module = MultiplexedTables(density=0.2, groups=[["item_id", "friend_id"]]).build(TABLES)
    tables = inner_tables(module)
    assert tables["multiplexed_0"] == (100, ("item_id", "user_id", "friend_id"))  # a table joins through any feature
    assert tables["t_city"] == (120, ("city",)) and tables["t_genre"] == (20, ("genre",))


def test_a_gradient_through_one_feature_moves_rows_another_feature_reads():
    torch.manual_seed(0)
    module = MultiplexedTables(density=0.05, groups=[["item_id", "user_id"]]).build(TABLES[:2])
    kjt = random_kjt(TABLES[:2], batch_size=64, seed=1)
    before = module(kjt).to_dict()["user_id"].detach().clone()
    item_only = module(kjt).to_dict()["item_id"].pow(2).sum()
    item_only.backward()
    with torch.no_grad():
        for p in module.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
    assert not torch.equal(module(kjt).to_dict()["user_id"], before)  # 25 shared rows: the user rows moved too


def test_the_shared_table_is_exported_and_counted_once(tmp_path):
    compressor = load_plugin_manager().create("embedding_compressor", "multiplexed", density=0.1)
    module = compressor.build(TABLES)
    info = compressor.export(module, tmp_path / "tables.pt")
    assert info.serving_bytes == (50 * 8 + 12 * 4 + 20 * 8) * 4  # the shared 50 x 8 table once
    saved = torch.load(info.path, weights_only=True)["tables"]  # written once: the two tables read one storage
    item, user = saved["t_item"]["payload"]["weight"], saved["t_user"]["payload"]["weight"]
    assert item.untyped_storage().data_ptr() == user.untyped_storage().data_ptr() and item.shape == (50, 8)
    served = compressor.load_export(info.path, TABLES)
    assert served.nbytes() == info.serving_bytes
    kjt = random_kjt(TABLES, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(served(kjt).values(), module(kjt).values())


@pytest.mark.parametrize(("groups", "message"), [
    ([["item_id", "nope"]], r"no table serves feature\(s\) \['nope'\]"),
    ([["item_id", "city"]], "must share one embedding dimension and pooling"),
    ([["item_id"], ["item_id", "user_id"]], "listed in more than one group"),
    ([["user_id"], ["friend_id"]], "fall in more than one group"),
    ("item_id", "must be a non-empty list of non-empty lists"),
    ([[]], "must be a non-empty list of non-empty lists"),
])
def test_bad_groups_are_one_line_errors(groups, message):
    with pytest.raises(ConfigError, match=message):
        MultiplexedTables(groups=groups).build(TABLES)


def test_a_budget_below_one_row_is_an_error():
    with pytest.raises(ConfigError, match="too small for density"):
        MultiplexedTables(density=0.001).build(TABLES)
