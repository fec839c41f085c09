"""One-shot magnitude pruning of a trained dense table (baseline).

The tables train dense. At ``prune_step`` (or, when it is ``None``, at export) each table keeps its
``density · N · D`` entries of largest |w|; from ``prune_step`` on the mask is fixed and applied after
every step (fine-tuning the survivors). Export writes sparse rows like DSL: the non-zeros of the tables
when they fit the budget, else the budget's entries of largest |w| — so exporting a dense-trained model
is one-shot magnitude pruning of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recplug.checks import check_optional_int

from recplug_dynamic_sparse.live_tables import full_weight
from recplug_dynamic_sparse.masked_tables import MaskedTables
from recplug_dynamic_sparse.prune_grow import magnitude_mask

if TYPE_CHECKING:  # pragma: no cover
    import torch


class MagnitudePrunedTables(MaskedTables):
    """Dense training, then one-shot magnitude pruning to ``density``.

    Args:
        density: fraction of each table's weights kept, in (0, 1].
        prune_step: the optimizer step after which to prune (``None``: prune only at export).
        dense_below_rows: tables with fewer rows stay dense.
        device, init_std: as for the dense tables.
        value_bits: exported values float32 (32, exact) or int8 with a float16 scale per row (8).
    """

    name = "magnitude-prune"

    def __init__(
        self, density: float = 0.2, prune_step: int | None = None, dense_below_rows: int = 100, device: str = "cpu",
        init_std: float | None = None, value_bits: int = 32,
    ) -> None:
        check_optional_int(prune_step, "prune_step", low=0)
        super().__init__(density, dense_below_rows, device=device, init_std=init_std, value_bits=value_bits)
        self.prune_step = prune_step

    def after_optimizer_step(self, module: torch.nn.Module, step: int) -> dict[str, float]:
        """Before ``prune_step`` nothing; at it, prune by magnitude; after it, keep the mask applied."""
        if self.prune_step is not None and step == self.prune_step and not self.masks:
            live = self.tables_of(module)
            self.set_masks({name: magnitude_mask(full_weight(live[name]), self.budgets[name]) for name in live if name in self.budgets})
        if self.masks:
            self.mask_now(module)
        return self.stats()
