"""DistributedModelParallel in one process (gloo): each CPU sharding type trains like the unsharded model."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from recplug.errors import ConfigError
from recplug_recsys.trainer import Trainer


@pytest.fixture(scope="module")
def process_group():
    from recplug_recsys.sharding import init_distributed

    yield init_distributed()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def unsharded(small_config_module) -> dict:
    return Trainer(small_config_module("sharding=none")).fit()


@pytest.mark.parametrize("sharding", ["data_parallel", "table_wise", "column_wise"])
def test_cpu_sharding_matches_unsharded(sharding: str, process_group, unsharded: dict, small_config_module) -> None:
    trainer = Trainer(small_config_module(f"sharding={sharding}"))
    assert type(trainer.inner.item_ebc).__name__ == "ShardedEmbeddingBagCollection"
    result = trainer.fit()
    assert result["world_size"] == 1
    # fused Adagrad (fbgemm) vs torch.optim.Adagrad: equal up to float rounding over 4 steps
    for key in ("R@10", "nDCG@10", "RR@10", "R@20"):
        assert result["test"][key] == pytest.approx(unsharded["test"][key], abs=0.01), key
    assert trainer.history[0]["loss/main"] == pytest.approx(unsharded_loss(unsharded), rel=1e-3)


def unsharded_loss(result: dict) -> float:
    import json
    from pathlib import Path

    history = json.loads((Path(result["config"]["output_dir"]) / "history.json").read_text())
    return history[0]["loss/main"]


def test_row_wise_needs_cuda_and_adam_on_cpu(process_group, small_config_module) -> None:
    if torch.cuda.is_available():
        pytest.skip("CPU-only check")
    with pytest.raises(ConfigError, match="'row_wise' is not supported on cpu"):
        Trainer(small_config_module("sharding=row_wise"))
    with pytest.raises(ConfigError, match="'adam' is not supported by fbgemm on CPU"):
        Trainer(small_config_module("sharding=table_wise", "table_optimizer=adam"))


@pytest.mark.gpu
def test_row_wise_on_cuda(process_group, unsharded: dict, small_config_module) -> None:
    result = Trainer(small_config_module("sharding=row_wise")).fit()
    assert result["test"]["R@10"] == pytest.approx(unsharded["test"]["R@10"], abs=0.02)
