"""SSL on the real pipeline pieces: recplug-recsys's TwoTowerModel and FeatureSpace on MovieLens-100K.

A few training steps of ``L_main + α · L_ssl`` (users limited to a slice to keep it fast); checks that the
SSL part is finite, gets its weight from the schedule, trains the shared item tower, and that both SSL
variants and spread-out run on the real model.
"""

from __future__ import annotations

import pytest
import torch
from recplug import load_plugin_manager

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ml100k():
    from recplug_eval import MovieLensDataset
    from recplug_recsys import dataset_features

    ds = MovieLensDataset("ml-100k")
    split = ds.split("recbole")
    space = dataset_features(ds)
    return space, split.train


def _model(space):
    from recplug.builtins.dense_tables import DenseTables
    from recplug_recsys import TowerConfig, TwoTowerModel

    torch.manual_seed(0)
    return TwoTowerModel(
        space.table_specs(space.user_features, 16), space.table_specs(space.item_features, 16), DenseTables(),
        TowerConfig(embedding_dim=16, hidden=(32,), output_dim=16),
    )


@pytest.mark.parametrize("name", ["ssl-cfm", "ssl-rfm", "spread-out"])
def test_a_few_training_steps_with_the_regularizer(ml100k, name) -> None:
    from recplug_recsys import in_batch_softmax_loss

    space, train = ml100k
    model = _model(space)
    pm = load_plugin_manager()
    options = {"weight": 0.5, "warmup": "linear", "warmup_steps": 4}
    if pm.get("regularizer", name).needs_model:
        options.update(model=model, feature_space=space, train_item_ids=train["item_id"].to_numpy(), batch_size=64)
    reg = pm.create("regularizer", name, **options)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    users, items = torch.tensor(train["user_id"].to_numpy()), torch.tensor(train["item_id"].to_numpy())
    g = torch.Generator().manual_seed(0)
    item_table = model.item_ebc.embedding_bags["t_item_id"].weight
    before = item_table.detach().clone()
    parts_seen = []
    for step in range(6):
        rows = torch.randint(len(users), (128,), generator=g)
        batch = {"user_features": space.user_kjt(users[rows]), "item_features": space.item_kjt(items[rows]),
                 "user_ids": users[rows], "item_ids": items[rows]}
        outputs = model(batch)
        main = in_batch_softmax_loss(outputs["query_embeddings"], outputs["item_embeddings"], items[rows])
        parts = reg(batch, outputs)
        assert all(torch.isfinite(v) for v in parts.values())
        loss = main + reg.schedule(step) * sum(parts.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        parts_seen.append({k: float(v.detach()) for k, v in parts.items()})
    assert reg.schedule(0) == pytest.approx(0.125) and reg.schedule(10) == pytest.approx(0.5)
    assert len(parts_seen) == 6 and set(parts_seen[0]) in ({"infonce"}, {"spread_out"})
    # SSL items come from the whole corpus: rows of items never in those main batches moved too
    if name.startswith("ssl"):
        assert (item_table.detach() - before).abs().sum(1).gt(0).sum() > 128 * 6 * 0.5
