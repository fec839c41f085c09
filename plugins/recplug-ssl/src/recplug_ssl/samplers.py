"""Item samplers for the SSL batch (Yao et al. 2021, heterogeneous sampling).

The main task sees items as the click log serves them (power-law); the SSL task draws its own batch of
items. ``UniformItemSampler`` draws them uniformly from the item corpus, which the paper calls critical;
``ClickLogItemSampler`` draws them from the training log (proportionally to popularity) for the ablation.
Both draw from torch's global random generator unless given one, so the trainer's seed governs them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from recplug.errors import ConfigError, InvalidInputError


def _check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 2:
        raise ConfigError(f"SSL batch_size must be an integer >= 2 (InfoNCE needs in-batch negatives), got {batch_size!r}")
    return batch_size


class UniformItemSampler:
    """Uniform over the corpus ``0..num_items-1``; without replacement when ``batch_size <= num_items``.

    Returns ``B`` item ids (int64).
    """

    source = "corpus"

    def __init__(self, num_items: int, batch_size: int) -> None:
        if not isinstance(num_items, int) or num_items < 2:
            raise InvalidInputError(f"the item corpus needs at least 2 items to sample an SSL batch, got {num_items!r}")
        self.num_items = num_items
        self.batch_size = _check_batch_size(batch_size)

    def __call__(self, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.batch_size <= self.num_items:
            return torch.randperm(self.num_items, generator=generator)[: self.batch_size]
        return torch.randint(self.num_items, (self.batch_size,), generator=generator)


class ClickLogItemSampler:
    """The items of ``B`` training interactions drawn uniformly from the log (with replacement), so an item
    comes up in proportion to its popularity. Returns ``B`` item ids (int64)."""

    source = "click_log"

    def __init__(self, log_item_ids: Sequence[int] | np.ndarray | torch.Tensor, batch_size: int) -> None:
        ids = torch.tensor(np.array(log_item_ids, dtype=np.int64)).reshape(-1)
        if ids.numel() == 0:
            raise InvalidInputError("the click log is empty: cannot sample SSL items from it")
        if int(ids.min()) < 0:
            raise InvalidInputError(f"click log holds a negative item id ({int(ids.min())})")
        self.log_item_ids = ids
        self.batch_size = _check_batch_size(batch_size)

    def __call__(self, generator: torch.Generator | None = None) -> torch.Tensor:
        rows = torch.randint(self.log_item_ids.numel(), (self.batch_size,), generator=generator)
        return self.log_item_ids[rows]
