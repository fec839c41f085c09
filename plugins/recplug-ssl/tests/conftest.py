"""Small synthetic item catalogues and a torchrec item tower for the unit tests."""

from __future__ import annotations

import pytest
import torch
from recplug_ssl.item_features import ItemFeatureTable

FEATURES = ("item_id", "genres", "year", "title_tokens")
NUM_ITEMS = 40


def make_table(num_items: int = NUM_ITEMS, seed: int = 0) -> ItemFeatureTable:
    g = torch.Generator().manual_seed(seed)
    genres, tokens = [], []
    for _ in range(num_items):
        genres.append(torch.randperm(6, generator=g)[: int(torch.randint(1, 4, (1,), generator=g))].tolist())
        tokens.append(torch.randint(0, 30, (int(torch.randint(1, 5, (1,), generator=g)),), generator=g).tolist())
    return ItemFeatureTable(
        {
            "item_id": [[i] for i in range(num_items)],
            "genres": genres,
            "year": [[i % 7] for i in range(num_items)],
            "title_tokens": tokens,
        }
    )


class ItemTower(torch.nn.Module):
    """EmbeddingBagCollection over the four item features, concatenated, then a linear layer: B x 8."""

    def __init__(self, weighted: bool = False) -> None:
        super().__init__()
        from torchrec import EmbeddingBagCollection, EmbeddingBagConfig

        sizes = {"item_id": NUM_ITEMS + 1, "genres": 7, "year": 8, "title_tokens": 31}
        self.ebc = EmbeddingBagCollection(
            tables=[EmbeddingBagConfig(name=f"t_{f}", embedding_dim=8, num_embeddings=n, feature_names=[f]) for f, n in sizes.items()],
            is_weighted=weighted,
        )
        self.proj = torch.nn.Linear(4 * 8, 8)

    def forward(self, kjt) -> torch.Tensor:
        pooled = self.ebc(kjt)
        return self.proj(torch.cat([pooled[f] for f in FEATURES], dim=1))


@pytest.fixture
def table() -> ItemFeatureTable:
    return make_table()


@pytest.fixture
def tower() -> ItemTower:
    torch.manual_seed(0)
    return ItemTower()


class FakeTwoTower(torch.nn.Module):
    """The slice of the recsys model contract the SSL factories read: ``item_tower``, ``item_tables``,
    ``feature_space``; ``forward(batch)`` gives L2-normalised ``item_embeddings``."""

    def __init__(self, table: ItemFeatureTable) -> None:
        super().__init__()
        from recplug.protocols import TableSpec

        self.tower = ItemTower()
        self.feature_space = table
        self.item_tables = [TableSpec(f"t_{f}", 64, 8, (f,)) for f in FEATURES]

    def item_tower(self, kjt) -> torch.Tensor:
        return torch.nn.functional.normalize(self.tower(kjt), dim=-1)

    def forward(self, batch) -> dict[str, torch.Tensor]:
        return {"item_embeddings": self.item_tower(batch["item_features"])}


@pytest.fixture
def model(table) -> FakeTwoTower:
    torch.manual_seed(0)
    return FakeTwoTower(table)


@pytest.fixture
def fake_model_of():
    """``fake_model_of(table) -> FakeTwoTower``."""
    return FakeTwoTower


@pytest.fixture
def table_factory():
    """``table_factory(num_items=40, seed=0) -> ItemFeatureTable``."""
    return make_table
