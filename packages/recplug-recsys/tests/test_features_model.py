"""Features as KJTs, the two-tower model's outputs contract, bad feature input, the loss."""

from __future__ import annotations

import pytest
import torch
from recplug.errors import InvalidInputError
from recplug.manager import load_plugin_manager
from recplug_recsys.features import FeatureSpace
from recplug_recsys.model import TowerConfig, TwoTowerModel, in_batch_softmax_loss
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor


@pytest.fixture(scope="module")
def model(features: FeatureSpace) -> TwoTowerModel:
    torch.manual_seed(0)
    compressor = load_plugin_manager().create("embedding_compressor", "dense")
    return TwoTowerModel(features.table_specs(features.user_features, 8), features.table_specs(features.item_features, 8),
                         compressor, TowerConfig(8, (16,), 12))


def test_item_kjt_holds_multi_valued_features(features: FeatureSpace, ml100k) -> None:
    kjt = features.item_kjt(torch.tensor([0, 1]))
    assert kjt.keys() == list(features.item_features) and kjt.stride() == 2
    parts = kjt.to_dict()
    assert parts["item_genres"].lengths().tolist() == [3, 3]  # Toy Story, GoldenEye: 3 genres each
    assert parts["item_title"].lengths().tolist() == [2, 1]
    vocab = features.vocabularies["item_genres"]
    assert parts["item_genres"].values()[:3].tolist() == [vocab["Animation"], vocab["Children's"], vocab["Comedy"]]
    assert parts["item_id"].values().tolist() == [0, 1]
    users = features.user_kjt(torch.tensor([0])).to_dict()
    assert users["user_age"].values().tolist() == [1]  # 24 -> bucket 18-24 (0 is <18)
    assert set(users) == set(features.user_features)


def test_forward_outputs_contract(model: TwoTowerModel, features: FeatureSpace) -> None:
    users, items = torch.tensor([0, 1, 2]), torch.tensor([5, 5, 9])
    batch = {"user_ids": users, "item_ids": items,
             "user_features": features.user_kjt(users), "item_features": features.item_kjt(items)}
    out = model(batch)
    assert out["query_embeddings"].shape == (3, 12) and out["item_embeddings"].shape == (3, 12)
    assert out["user_pooled"].shape == (3, 5 * 8) and out["item_pooled"].shape == (3, 4 * 8)
    torch.testing.assert_close(out["item_embeddings"].norm(dim=1), torch.ones(3))
    torch.testing.assert_close(model.item_tower(features.item_kjt(items)), out["item_embeddings"])
    # a masked view: drop every title token of item 0
    kjt = features.item_kjt(torch.tensor([0]))
    parts = kjt.to_dict()
    masked = KeyedJaggedTensor.from_lengths_sync(
        keys=list(features.item_features),
        values=torch.cat([parts[k].values() for k in features.item_features if k != "item_title"]),
        lengths=torch.tensor([1, 3, 1, 0], dtype=torch.int32),
    )
    assert not torch.allclose(model.item_tower(masked), model.item_tower(kjt))


def test_bad_feature_input(model: TwoTowerModel, features: FeatureSpace) -> None:
    with pytest.raises(InvalidInputError, match="empty batch"):
        features.item_kjt(torch.tensor([], dtype=torch.int64))
    with pytest.raises(InvalidInputError, match=r"items id outside \[0, 1682\)"):
        features.item_kjt(torch.tensor([1682]))
    bad = KeyedJaggedTensor.from_lengths_sync(keys=["item_id", "item_colour"], values=torch.tensor([1, 2]),
                                              lengths=torch.tensor([1, 1], dtype=torch.int32))
    with pytest.raises(InvalidInputError, match=r"unknown feature\(s\) \['item_colour'\]"):
        model.item_tower(bad)
    kjt = KeyedJaggedTensor.from_lengths_sync(keys=list(features.item_features), values=torch.tensor([0, 1, 1, 99999]),
                                              lengths=torch.tensor([1, 1, 1, 1], dtype=torch.int32))
    with pytest.raises(InvalidInputError, match=r"'item_title' has ids 99999\.\.99999, outside its table"):
        model.item_tower(kjt)


def test_in_batch_softmax_masks_duplicates_and_log_q() -> None:
    q = torch.nn.functional.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    items = q.clone()
    ids = torch.tensor([1, 2, 3, 4])
    base = in_batch_softmax_loss(q, items, ids, 0.1)
    # item 0 duplicated as candidate 1: masked as a negative of row 0 -> the loss changes only by masking
    dup = in_batch_softmax_loss(q, items, torch.tensor([1, 1, 3, 4]), 0.1)
    assert dup < base
    log_q = torch.log(torch.tensor([0.7, 0.1, 0.1, 0.1]))
    assert not torch.isclose(in_batch_softmax_loss(q, items, ids, 0.1, log_q), base)
    # gathered candidates: queries of "rank 1" point at columns 2, 3
    half = in_batch_softmax_loss(q[2:], items, ids, 0.1, positives=torch.tensor([2, 3]))
    full = torch.nn.functional.cross_entropy(q @ items.T / 0.1, torch.arange(4), reduction="none")
    torch.testing.assert_close(half, full[2:].mean())
