"""Two-tower recommender on torchrec for recplug: model, trainer, sharding plans, checkpoints."""

__version__ = "0.1.0"
