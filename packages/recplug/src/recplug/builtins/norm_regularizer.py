"""A built-in regularizer: the mean squared L2 norm of embeddings in the model outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recplug.errors import ConfigError
from recplug.schedules import schedule_from_config


class EmbeddingNormPenalty:
    """``mean_b ||e_b||^2`` for each output key in ``keys`` (each B x D); one loss part per key.

    Args:
        keys: output keys to penalise, e.g. ``("query_embeddings", "item_embeddings")``.
        weight, warmup, warmup_steps: the weight schedule (see :func:`recplug.schedules.schedule_from_config`).
    """

    name = "embedding-norm"

    def __init__(
        self,
        keys: Sequence[str] = ("item_embeddings",),
        weight: float = 1e-4,
        warmup: str = "constant",
        warmup_steps: int = 0,
    ) -> None:
        if not keys:
            raise ConfigError("embedding-norm: keys is empty")
        self.requires = frozenset(keys)
        self._keys = tuple(keys)
        self.schedule = schedule_from_config(weight, warmup, warmup_steps)

    def __call__(self, batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
        return {key: outputs[key].pow(2).sum(dim=-1).mean() for key in self._keys}
