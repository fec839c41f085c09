"""Dynamic Sparse Learning inside the recsys Trainer (unsharded, plain Adagrad): the trainer hands the tables'
optimizer to the compressor, so a regrown weight starts with zero Adagrad state, like its weight."""

from __future__ import annotations

import torch
from recplug_recsys.config import load_config
from recplug_recsys.trainer import Trainer

SMALL = [
    "data.max_users=60", "model.embedding_dim=16", "model.hidden=[32]", "model.output_dim=16",
    "batch_size=128", "max_steps_per_epoch=6", "progress=false", "eval_ks=[10]", "epochs=2",
    "table_optimizer=adagrad",
    'compressor={"name": "dsl", "options": {"density": 0.2, "delta_t": 2, "total_steps": 12, '
    '"dense_below_rows": 0, "seed": 0}}',
]


def test_trainer_attaches_table_optimizer_and_state_stays_masked(tmp_path) -> None:
    torch.set_num_threads(1)
    trainer = Trainer(load_config(None, [*SMALL, f'output_dir="{tmp_path}"']))
    compressor = trainer.compressor
    assert trainer.optimizers[0] in compressor.optimizers
    initial = {name: mask.clone() for name, mask in compressor.masks.items()}
    trainer.fit()
    optimizer = trainer.optimizers[0]
    moved = 0
    for tower in (trainer.model.user_ebc, trainer.model.item_ebc):
        for key, bag in tower.embedding_bags.items():
            mask = compressor.masks[key]
            moved += int((mask & ~initial[key]).sum())
            assert int(mask.sum()) == compressor.budgets[key]
            assert torch.all(bag.weight.detach()[~mask] == 0)
            state = optimizer.state[bag.weight]["sum"]
            assert state[mask].abs().sum() > 0
            assert torch.all(state[~mask] == 0), f"{key}: Adagrad state left outside the mask"
    assert moved > 0  # prune/grow ran, so some weights were regrown
