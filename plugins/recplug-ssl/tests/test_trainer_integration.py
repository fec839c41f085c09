"""SSL through recplug-recsys's Trainer (the `recplug train` loop) on a slice of MovieLens-100K.

The trainer builds regularizers by name with ``model=``; SSL records also have the capability
``"needs_item_features"``, so the trainer passes every item's features (``feature_space=``) and the click
log's item ids (``train_item_ids=``): SSL samples its own items from the whole corpus.
"""

from __future__ import annotations

import json
import math

import pytest

pytestmark = pytest.mark.slow


def test_trainer_runs_ssl_and_spread_out_and_logs_their_parts(tmp_path) -> None:
    from recplug_recsys import ComponentConfig, DataConfig, ModelConfig, TrainConfig, Trainer

    config = TrainConfig(
        data=DataConfig(dataset="ml-100k", max_users=150),
        model=ModelConfig(embedding_dim=16, hidden=(32,), output_dim=16),
        regularizers=[
            ComponentConfig("ssl-cfm", {"batch_size": 64, "weight": 0.3, "temperature": 0.1}),
            ComponentConfig("spread-out", {"weight": 0.1}),
        ],
        epochs=1, batch_size=256, max_steps_per_epoch=4, output_dir=str(tmp_path / "run"), progress=False,
        eval_ks=(10, 50),
    )
    result = Trainer(config).fit()
    history = (tmp_path / "run" / "history.json").read_text()
    assert '"ssl-cfm/infonce"' in history and '"spread-out/spread_out"' in history
    row = json.loads(history)[0]
    assert math.isfinite(row["ssl-cfm/infonce"]) and row["ssl-cfm/infonce"] > 0
    assert row["ssl-cfm/weight"] == pytest.approx(0.3)
    assert result["test"] and all(math.isfinite(v) for v in result["test"].values())
