"""A built-in regularizer: the mean squared L2 norm of embeddings in the model outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recplug.errors import ConfigError, InvalidInputError
from recplug.schedules import schedule_from_config


def check_keys(keys: Any, owner: str) -> tuple[str, ...]:
    """``keys`` (one string or a sequence of them) as a tuple of non-empty strings; else a ConfigError."""
    if isinstance(keys, str):
        keys = (keys,)
    if not isinstance(keys, Sequence) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise ConfigError(f"{owner}: keys must be a non-empty list of output names, got {keys!r}")
    return tuple(keys)


def embedding_tensor(outputs: Mapping[str, Any], key: str, owner: str) -> Any:
    """``outputs[key]`` when it is a non-empty floating-point tensor of at least one dimension (B x D)."""
    import torch

    if key not in outputs:
        raise InvalidInputError(f"{owner}: model outputs lack {key!r}; got {sorted(map(str, outputs))}")
    value = outputs[key]
    if not isinstance(value, torch.Tensor):
        raise InvalidInputError(f"{owner}: output {key!r} must be a torch tensor (B x D), got {type(value).__name__}")
    if not value.dtype.is_floating_point or value.dim() < 1 or value.numel() == 0:
        raise InvalidInputError(
            f"{owner}: output {key!r} must be a non-empty floating-point B x D tensor, got {value.dtype} "
            f"of shape {tuple(value.shape)}"
        )
    return value


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
        self._keys = check_keys(keys, self.name)
        self.requires = frozenset(self._keys)
        self.schedule = schedule_from_config(weight, warmup, warmup_steps)

    def __call__(self, batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
        return {key: embedding_tensor(outputs, key, self.name).pow(2).sum(dim=-1).mean() for key in self._keys}
