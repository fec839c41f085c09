"""Masking and value dropout on KeyedJaggedTensors, checked through a real EmbeddingBagCollection."""

from __future__ import annotations

import pytest
import torch
from recplug.errors import ConfigError
from recplug_ssl.masking import complementary_views, concat_batches, drop_values, mask_features, stacked_views


def bags(kjt, key):
    jt = kjt.to_dict()[key]
    return [t.tolist() for t in jt.to_dense()]


def test_item_table_builds_the_right_bags(table) -> None:
    kjt = table.kjt(torch.tensor([3, 0, 3]))
    assert kjt.keys() == ["item_id", "genres", "year", "title_tokens"]
    assert bags(kjt, "item_id") == [[3], [0], [3]]
    assert bags(kjt, "genres")[0] == bags(kjt, "genres")[2]
    assert table.max_bag_length("genres") > 1 and table.max_bag_length("year") == 1


def test_mask_empty_gives_zero_pooled_embedding_and_leaves_the_rest(table, tower) -> None:
    kjt = table.kjt(torch.arange(6))
    masked = mask_features(kjt, {"genres", "year"})
    assert bags(masked, "genres") == [[]] * 6 and bags(masked, "year") == [[]] * 6
    assert bags(masked, "item_id") == bags(kjt, "item_id")
    assert bags(masked, "title_tokens") == bags(kjt, "title_tokens")
    pooled, original = tower.ebc(masked), tower.ebc(kjt)
    assert torch.count_nonzero(pooled["genres"]) == 0 and torch.count_nonzero(pooled["year"]) == 0
    torch.testing.assert_close(pooled["title_tokens"], original["title_tokens"])


def test_mask_with_missing_row_uses_that_row(table, tower) -> None:
    kjt = table.kjt(torch.arange(5))
    masked = mask_features(kjt, {"item_id"}, defaults={"item_id": 40})
    assert bags(masked, "item_id") == [[40]] * 5
    pooled = tower.ebc(masked)["item_id"]
    row = tower.ebc.embedding_bags["t_item_id"].weight[40]
    torch.testing.assert_close(pooled, row.expand(5, -1))


def test_bad_masking_config_is_a_config_error(table) -> None:
    kjt = table.kjt(torch.arange(3))
    with pytest.raises(ConfigError, match=r"\['director'\] the model lacks"):
        mask_features(kjt, {"director"})
    with pytest.raises(ConfigError, match="row id"):
        mask_features(kjt, {"year"}, defaults={"year": -1})
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        drop_values(kjt, {"genres"}, 1.0)


def test_value_dropout_unweighted_removes_values(table) -> None:
    kjt = table.kjt(torch.arange(40))
    g = torch.Generator().manual_seed(0)
    dropped = drop_values(kjt, {"genres", "title_tokens"}, 0.5, g)
    assert bags(dropped, "item_id") == bags(kjt, "item_id") and bags(dropped, "year") == bags(kjt, "year")
    before, after = kjt.to_dict()["genres"], dropped.to_dict()["genres"]
    assert int(after.lengths().sum()) < int(before.lengths().sum())
    for kept, full in zip(bags(dropped, "genres"), bags(kjt, "genres"), strict=True):
        assert set(kept) <= set(full)
    assert drop_values(kjt, {"genres"}, 0.0) is kjt


def test_value_dropout_weighted_sets_weight_zero_and_pools_like_removal(table) -> None:
    from torchrec import EmbeddingBagCollection, EmbeddingBagConfig
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    kjt = table.kjt(torch.arange(20))
    weighted = KeyedJaggedTensor(keys=kjt.keys(), values=kjt.values(), lengths=kjt.lengths(), weights=torch.ones(kjt.values().numel()))
    torch.manual_seed(0)
    tables = [EmbeddingBagConfig(name=f"t_{f}", embedding_dim=4, num_embeddings=64, feature_names=[f]) for f in list(kjt.keys())]
    ebc_w = EmbeddingBagCollection(tables=tables, is_weighted=True)
    ebc_u = EmbeddingBagCollection(tables=tables, is_weighted=False)
    ebc_u.load_state_dict(ebc_w.state_dict())
    out_w = drop_values(weighted, {"genres"}, 0.5, torch.Generator().manual_seed(3))
    out_u = drop_values(kjt, {"genres"}, 0.5, torch.Generator().manual_seed(3))
    assert out_w.values().numel() == weighted.values().numel()
    assert 0 < int((out_w.weights() == 0).sum()) < kjt.to_dict()["genres"].values().numel()
    torch.testing.assert_close(ebc_w(out_w)["genres"], ebc_u(out_u)["genres"])
    # masking a weighted feature keeps the KJT weighted and pools to zero
    masked = mask_features(weighted, {"genres"})
    assert masked.weights_or_none() is not None
    assert torch.count_nonzero(ebc_w(masked)["genres"]) == 0


def test_complementary_views_and_concat(table) -> None:
    kjt = table.kjt(torch.arange(4))
    a, b = complementary_views(kjt, {"item_id", "genres"}, {"year", "title_tokens"})
    assert bags(a, "item_id") == [[]] * 4 and bags(a, "year") == bags(kjt, "year")
    assert bags(b, "year") == [[]] * 4 and bags(b, "genres") == bags(kjt, "genres")
    both = concat_batches(a, b)
    assert both.stride() == 8
    assert bags(both, "genres") == bags(a, "genres") + bags(b, "genres")
    assert bags(both, "item_id") == [[]] * 4 + bags(kjt, "item_id")


def test_stacked_views_equal_concatenated_complementary_views(table) -> None:
    kjt = table.kjt(torch.arange(12))
    for rate in (0.0, 0.4):
        torch.manual_seed(3)
        ref = concat_batches(*complementary_views(kjt, {"item_id"}, {"genres", "year"}, dropout_features={"title_tokens"},
                                                  dropout_rate=rate, defaults={"genres": 0}))
        torch.manual_seed(3)
        fast = stacked_views(kjt, {"item_id"}, {"genres", "year"}, dropout_features={"title_tokens"},
                             dropout_rate=rate, defaults={"genres": 0})
        assert fast.stride() == 24
        for key in list(kjt.keys()):
            assert bags(fast, key) == bags(ref, key), (rate, key)
