"""The prune-and-grow update of Dynamic Sparse Learning on one table, and its cosine-decayed ratio.

All functions are pure: they take full tables (N x D) and return new masks, so every process given the
same inputs takes the same decision.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class UpdateStats:
    """What one prune/grow update did to a table: weights pruned (= grown), of which regrown at once."""

    pruned: int
    regrown_same: int


def random_mask(shape: tuple[int, int], active: int, seed: int, table: str) -> torch.Tensor:
    """A mask (N x D bool) with exactly ``active`` True entries drawn uniformly, seeded by ``seed`` and the
    table name (the same on every process)."""
    import torch

    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(table.encode()))
    order = torch.randperm(shape[0] * shape[1], generator=generator)
    mask = torch.zeros(shape[0] * shape[1], dtype=torch.bool)
    mask[order[:active]] = True
    return mask.view(shape)


def magnitude_mask(weight: torch.Tensor, active: int) -> torch.Tensor:
    """Keep the ``active`` entries of largest |w| (N x D bool)."""
    import torch

    flat = weight.detach().abs().flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[torch.topk(flat, active, sorted=False).indices] = True
    return mask.view(weight.shape)


def prune_count(ratio: float, active: int) -> int:
    """⌈r_t · nnz⌉, capped at nnz."""
    return min(active, math.ceil(ratio * active))


def prune_and_grow(weight: torch.Tensor, mask: torch.Tensor, gradient: torch.Tensor, count: int) -> tuple[torch.Tensor, UpdateStats]:
    """Prune the ``count`` active weights of smallest |w|, then grow the ``count`` inactive ones (the
    just-pruned included, as in the official code) of largest |gradient|.

    Args:
        weight: full table (N x D).
        mask: current mask (N x D bool).
        gradient: the growth score (N x D), e.g. the gradient accumulated since the last update.
        count: weights to prune and grow.

    Returns:
        the new mask (same number of active entries) and :class:`UpdateStats`.
    """
    import torch

    flat_mask = mask.flatten()
    count = min(count, int(flat_mask.sum()))
    if count <= 0:
        return mask.clone(), UpdateStats(0, 0)
    magnitude = torch.where(flat_mask, weight.detach().abs().flatten().float(), torch.inf)
    pruned = torch.topk(magnitude, count, largest=False, sorted=False).indices
    new_mask = flat_mask.clone()
    new_mask[pruned] = False
    score = torch.where(new_mask, -1.0, gradient.detach().abs().flatten().float())
    grown = torch.topk(score, count, sorted=False).indices
    new_mask[grown] = True
    regrown_same = int(flat_mask[grown].sum())
    return new_mask.view(mask.shape), UpdateStats(count, regrown_same)
