"""Tables with a fixed weight budget held by masks, applied after every optimizer step.

:class:`MaskedTables` is the shared machinery of Dynamic Sparse Learning and one-shot magnitude pruning:
plain torchrec tables, a boolean mask per table (N x D, the same on every process), weights and optimizer
state zeroed outside the mask after every step, and export of the masked tables as sparse rows.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from recplug.builtins.dense_tables import DenseTables, check_tables
from recplug.memory import check_fits
from recplug.protocols import CompressorCapabilities, ExportInfo, TableSpec

from recplug_dynamic_sparse.config import (
    check_common,
    check_dense_below_rows,
    check_density,
    check_value_bits,
    weight_budget,
)
from recplug_dynamic_sparse.live_tables import LiveTable, apply_mask, full_weight, live_tables, scale_rows, table_specs
from recplug_dynamic_sparse.prune_grow import magnitude_mask

if TYPE_CHECKING:  # pragma: no cover
    import torch


#: host bytes per masked weight: bool mask, float32 multiplier, int64 permutation of the random draw
MASK_BYTES_PER_WEIGHT = 13


class MaskedTables:
    """Base of mask-holding compressors; subclasses decide how masks start and change.

    Args:
        density: fraction of each table's weights kept, in (0, 1].
        dense_below_rows: tables with fewer rows stay dense.
        device: where the tables live.
        init_std: normal initialisation std (``None`` keeps torchrec's init).
        value_bits: exported values float32 (32, exact) or int8 with a float16 scale per row (8).
    """

    name = "masked"
    capabilities = CompressorCapabilities(after_step=True, export=True, fused=True, sharded=True)

    def __init__(
        self, density: float, dense_below_rows: int = 100, device: str = "cpu", init_std: float | None = None, value_bits: int = 32,
    ) -> None:
        check_density(density)
        check_dense_below_rows(dense_below_rows)
        check_value_bits(value_bits)
        check_common(device, init_std, self.name)
        self.value_bits = value_bits
        self.density = float(density)
        self.dense_below_rows = dense_below_rows
        self.device = device
        self.init_std = init_std
        self.budgets: dict[str, int] = {}
        self.masks: dict[str, torch.Tensor] = {}
        self.multipliers: dict[str, torch.Tensor] = {}  # float32 copies of the masks: multiplying by them is faster
        self.optimizers: list[Any] = []
        self._live: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, LiveTable]] = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------ hooks for subclasses
    def initial_masks(self, tables: Sequence[TableSpec]) -> dict[str, torch.Tensor]:
        """Masks at build time (``{}``: none yet, the tables start dense)."""
        return {}

    def check_tables(self, tables: Sequence[TableSpec]) -> None:
        """Record the weight budget of each table with at least ``dense_below_rows`` rows (the others stay
        dense); a table too small for its budget is a ConfigError."""
        self.budgets.update({t.name: weight_budget(t, self.density) for t in tables if t.num_embeddings >= self.dense_below_rows})

    # ------------------------------------------------------------------ protocol
    def build(self, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """An ``EmbeddingBagCollection`` (KeyedJaggedTensor -> KeyedTensor B x sum D), already masked.

        Raises:
            ConfigError: malformed tables, or a table too small for its budget.
            recplug.memory.ResourceError: tables and masks larger than the memory available (checked first).
        """
        tables = check_tables(tables, self.name)
        masked = sum(t.num_embeddings * t.embedding_dim for t in tables if t.num_embeddings >= self.dense_below_rows)
        weights = 0 if self.device == "meta" else sum(t.num_embeddings * t.embedding_dim for t in tables)
        # float32 weights; per masked weight a bool mask, a float32 multiplier and the int64 permutation drawing it
        check_fits(4 * weights + MASK_BYTES_PER_WEIGHT * masked, f"{self.name} tables and masks")
        self.check_tables(tables)
        module = DenseTables(device=self.device, init_std=self.init_std).build(tables)
        self.set_masks(self.initial_masks(tables))
        bags = cast("Mapping[str, torch.nn.EmbeddingBag]", module.embedding_bags)  # a ModuleDict of the tables
        for name, bag in bags.items():
            # plain optimizers then see no gradient outside the mask (their state stays put there)
            bag.weight.register_post_accumulate_grad_hook(lambda param, name=name: self.mask_gradient(name, param))
        if self.device != "meta":
            self.mask_now(module)
        return module

    def rows_in_batch(self, name: str) -> torch.Tensor | None:
        """Rows of table ``name`` looked up since the last step (``None``: unknown, treat all as touched)."""
        return None

    def mask_gradient(self, name: str, param: torch.Tensor) -> None:
        """Zero ``param.grad`` outside the mask of table ``name``, in place, only on the rows looked up
        this step when they are known (the gradient of the other rows is zero already)."""
        if name not in self.masks or param.grad is None or param.grad.is_sparse:
            return
        rows = self.rows_in_batch(name)
        if rows is None:
            param.grad.mul_(self.multipliers[name])
        else:
            scale_rows(param.grad, rows, self.multipliers[name].index_select(0, rows))

    def set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        """Replace the masks (N x D bool) of some tables."""
        for name, mask in masks.items():
            self.masks[name] = mask
            self.multipliers[name] = mask.float()

    def attach_optimizer(self, optimizer: Any) -> None:
        """Also mask the state of a plain (not fused, not in-backward) optimizer of the tables."""
        self.optimizers.append(optimizer)
        self._live.clear()

    def tables_of(self, module: torch.nn.Module) -> dict[str, LiveTable]:
        """Live views of the tables in ``module`` (cached for sharded modules, whose fused optimizer state
        exists from the start; looked up afresh otherwise, as plain optimizers create state lazily)."""
        cached = self._live.get(module)
        if cached is not None:
            return cached
        tables = live_tables(module, self.optimizers)
        if any(t.sharded for t in tables.values()):
            self._live[module] = tables
        return tables

    def mask_now(self, module: torch.nn.Module) -> None:
        """Zero weights and optimizer state outside the masks."""
        import torch

        with torch.no_grad():
            for name, table in self.tables_of(module).items():
                if name in self.masks:
                    apply_mask(table, self.multipliers[name])

    def after_optimizer_step(self, module: torch.nn.Module, step: int) -> dict[str, float]:
        """Apply the masks; returns the overall density of the masked tables."""
        self.mask_now(module)
        return self.stats()

    def stats(self) -> dict[str, float]:
        """Density of the masked tables (the budgets: masks always hold exactly their budget)."""
        masked = [name for name in self.masks if name in self.budgets]
        if not masked:
            return {}
        total = sum(self.masks[name].numel() for name in masked)
        return {f"{self.name}/density": sum(self.budgets[name] for name in masked) / total}

    # ------------------------------------------------------------------ export
    def export_masks(self, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What to export of each table: its non-zeros when they fit the budget (the masked model, exactly,
        whichever epoch's weights it holds), else the budget's entries of largest |w| (one-shot pruning)."""
        masks = {}
        for name, weight in weights.items():
            if weight.shape[0] < self.dense_below_rows:
                continue
            budget = self.budgets.get(name, max(1, round(self.density * weight.numel())))
            nonzero = weight != 0
            masks[name] = nonzero if int(nonzero.sum()) <= budget else magnitude_mask(weight, budget)
        return masks

    def export(self, module: torch.nn.Module, path: Path) -> ExportInfo:
        """Write the masked tables as sparse rows (CSR or bitmap, the smaller; values as ``value_bits`` says);
        a collective when sharded (every process must call it; process 0 writes)."""
        from recplug_dynamic_sparse.serving import write_export
        from recplug_dynamic_sparse.sparse_rows import DenseRows, SparseRows

        specs = table_specs(module)
        live = self.tables_of(module)
        weights = {t.name: full_weight(live[t.name]) for t in specs}
        masks = self.export_masks(weights)
        sources = {name: SparseRows.from_dense(w, masks[name], self.value_bits) if name in masks else DenseRows(w) for name, w in weights.items()}
        return write_export(Path(path), self.name, specs, sources)

    def load_export(self, path: Path, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """A serving module (:class:`recplug_dynamic_sparse.serving.CompactEmbeddingBags`) from :meth:`export` output."""
        from recplug_dynamic_sparse.serving import load_export_file

        return load_export_file(Path(path), self.name, tables)
