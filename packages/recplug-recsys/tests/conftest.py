"""Shared fixtures: a small slice of MovieLens-100K (cached by recplug-eval) and tiny run configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from recplug_eval.datasets.movielens import MovieLensDataset
from recplug_recsys.config import TrainConfig, load_config
from recplug_recsys.features import FeatureSpace
from recplug_recsys.schema import parse_features

torch.set_num_threads(1)  # fastest on the shared 2-core CI machine

SMALL = [
    "data.max_users=60", "model.embedding_dim=16", "model.hidden=[32]", "model.output_dim=16",
    "batch_size=128", "max_steps_per_epoch=4", "progress=false", "eval_ks=[10,20]",
]


@pytest.fixture(scope="session")
def ml100k() -> MovieLensDataset:
    return MovieLensDataset("ml-100k")


@pytest.fixture(scope="session")
def features(ml100k: MovieLensDataset) -> FeatureSpace:
    declared = parse_features(ml100k.default_config()["features"])  # the shipped MovieLens schema
    return FeatureSpace.fit(declared, ml100k.users(), ml100k.items(), embedding_dim=16)


@pytest.fixture
def small_config(tmp_path: Path):
    """``small_config(*overrides) -> TrainConfig`` of a few steps on 60 users, writing under tmp_path."""

    def make(*overrides: str) -> TrainConfig:
        return load_config(None, [*SMALL, f'output_dir="{tmp_path / "run"}"', *overrides])

    return make


@pytest.fixture(scope="module")
def small_config_module(tmp_path_factory: pytest.TempPathFactory):
    """Like ``small_config`` (one epoch) but module-scoped; every config gets a fresh output folder."""

    def make(*overrides: str) -> TrainConfig:
        out = tmp_path_factory.mktemp("run")
        return load_config(None, [*SMALL, "epochs=1", f'output_dir="{out}"', *overrides])

    return make


@pytest.fixture(scope="session")
def shop_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated shop dataset (not MovieLens: other columns and features) as CSV files."""
    from recplug_eval.datasets.generated import ShopSpec, write_shop

    return write_shop(tmp_path_factory.mktemp("shop"), ShopSpec(num_users=300, num_items=200, num_interactions=8000))


@pytest.fixture
def shop_config(tmp_path: Path, shop_folder: Path):
    """``shop_config(*overrides) -> TrainConfig``: a few steps on the shop data, writing under tmp_path."""

    from recplug_eval.datasets.generated import shop_overrides

    def make(*overrides: str) -> TrainConfig:
        small = [s for s in SMALL if not s.startswith("data.max_users")]
        return load_config(None, [*small, *shop_overrides(shop_folder), f'output_dir="{tmp_path / "run"}"', *overrides])

    return make
