"""Two-tower recommender on torchrec for recplug: model, trainer, sharding plans, checkpoints.

The public API, for users and for plugins (plugins import only these names)::

    from recplug_recsys import TrainConfig, Trainer, load_config      # train a two-tower from a config
    from recplug_recsys import TwoTowerModel, TowerConfig, in_batch_softmax_loss
    from recplug_recsys import TwoTowerLike, ItemFeatureSource       # what regularizers may read (protocols)
    from recplug_recsys import RecsysVariant, variant_step, DEMO_EPOCHS  # a demo step adding variants

Names are imported on first use (``import recplug_recsys`` imports neither torch nor torchrec).
"""

from __future__ import annotations

from recplug.public_api import lazy_exports

__version__ = "0.1.0"

#: public name -> ``module:attribute`` it comes from
_EXPORTS = {
    "TrainConfig": "recplug_recsys.config:TrainConfig",
    "ComponentConfig": "recplug_recsys.config:ComponentConfig",
    "DataConfig": "recplug_recsys.config:DataConfig",
    "ModelConfig": "recplug_recsys.config:ModelConfig",
    "load_config": "recplug_recsys.config:load_config",
    "Trainer": "recplug_recsys.trainer:Trainer",
    "evaluate_run": "recplug_recsys.trainer:evaluate_run",
    "TwoTowerModel": "recplug_recsys.model:TwoTowerModel",
    "TowerConfig": "recplug_recsys.model:TowerConfig",
    "in_batch_softmax_loss": "recplug_recsys.model:in_batch_softmax_loss",
    "TwoTowerLike": "recplug_recsys.protocols:TwoTowerLike",
    "ItemFeatureSource": "recplug_recsys.protocols:ItemFeatureSource",
    "dataset_features": "recplug_recsys.data:dataset_features",
    "csr_gather_index": "recplug_recsys.features:csr_gather_index",
    "export_run": "recplug_recsys.export:export_run",
    "ExportedTwoTower": "recplug_recsys.export:ExportedTwoTower",
    "RecsysVariant": "recplug_recsys.demo:RecsysVariant",
    "variant_step": "recplug_recsys.demo:variant_step",
    "DEMO_EPOCHS": "recplug_recsys.demo:DEMO_EPOCHS",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
