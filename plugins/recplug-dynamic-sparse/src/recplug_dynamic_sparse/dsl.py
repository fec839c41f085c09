"""Dynamic Sparse Learning (Wang et al., WSDM 2024) as an embedding compressor.

Each table keeps ``density · N · D`` active weights for the whole run: a uniformly random mask at build
time; weights and optimizer state are zeroed outside the mask after every optimizer step; every ΔT steps
the ``⌈r_t · nnz⌉`` active weights of smallest |w| are pruned and as many inactive weights of largest
|gradient| are grown (starting at 0, optimizer state 0), per table, so the split of the budget across rows
adapts freely. ``r_t`` decays with a cosine from 0.5 to 0.005 over ``total_steps``.

Gradients come from :class:`recplug_dynamic_sparse.grad_probe.GradientProbe` (a hook on the lookup
output), so fused torchrec tables (no ``.grad``) and sharded tables work the same as plain ones. The
growth score is the gradient summed over the ΔT steps since the last update (``grow="accumulated"``) or
the last mini-batch's gradient (``grow="last"``, the official code's choice). On several processes the
gradients and sharded weights are summed/gathered before each update, so every process takes the same
decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from recplug.protocols import TableSpec

from recplug_dynamic_sparse.config import DSLConfig
from recplug_dynamic_sparse.live_tables import apply_mask, full_weight, is_distributed
from recplug_dynamic_sparse.masked_tables import MaskedTables
from recplug_dynamic_sparse.prune_grow import prune_and_grow, prune_count, random_mask

if TYPE_CHECKING:  # pragma: no cover
    import torch


class DynamicSparseTables(MaskedTables):
    """DSL tables; configuration: see :class:`recplug_dynamic_sparse.config.DSLConfig`."""

    name = "dsl"
    #: the options of the ``"dsl"`` component (checked before construction)
    recplug_options = frozenset(DSLConfig.__dataclass_fields__)

    def __init__(self, **config: Any) -> None:
        self.config = DSLConfig(**config)
        super().__init__(
            self.config.density, self.config.dense_below_rows, device=self.config.device, init_std=self.config.init_std,
            value_bits=self.config.value_bits,
        )
        self.probe: Any = None
        self.updates = 0

    def initial_masks(self, tables: Sequence[TableSpec]) -> dict[str, torch.Tensor]:
        from recplug_dynamic_sparse.grad_probe import GradientProbe

        if self.probe is None:
            self.probe = GradientProbe(deferred=self.config.grow == "last")
        self.probe.add_tables({t.name: (t.num_embeddings, t.embedding_dim) for t in tables if t.name in self.budgets})
        return {
            t.name: random_mask((t.num_embeddings, t.embedding_dim), self.budgets[t.name], self.config.seed, t.name)
            for t in tables
            if t.name in self.budgets
        }

    def build(self, tables: Sequence[TableSpec]) -> torch.nn.Module:
        module = super().build(tables)
        self.probe.attach(module)
        return module

    def attach(self, module: torch.nn.Module) -> None:
        """Hook the gradient probe on ``module`` (e.g. after ``DistributedModelParallel`` replaced the
        tables) and mask it now. :meth:`after_optimizer_step` does this on its own at its first call; calling
        it before the first step also catches step 0's gradient."""
        self.probe.attach(module)
        self.mask_now(module)

    def rows_in_batch(self, name: str) -> torch.Tensor | None:
        """Rows of ``name`` the gradient probe saw since the last step."""
        return self.probe.rows_seen(name) if self.probe is not None else None

    def is_update_step(self, step: int) -> bool:
        """Prune/grow after steps ΔT-1, 2ΔT-1, … before ``total_steps``."""
        return (step + 1) % self.config.delta_t == 0 and step + 1 < self.config.total_steps

    def after_optimizer_step(self, module: torch.nn.Module, step: int) -> dict[str, float]:
        """Mask weights and optimizer state; every ΔT steps prune and grow. Returns density, r_t and
        (on update steps) the number of weights moved."""
        import torch

        if self.probe is None:
            raise RuntimeError("DynamicSparseTables.after_optimizer_step called before build()")
        self.probe.attach(module)
        stats: dict[str, float] = {}
        with torch.no_grad():
            live = {name: table for name, table in self.tables_of(module).items() if name in self.masks}
            # other processes' lookups also move sharded or replicated tables: then mask every row
            touched_only = self.config.mask_rows == "touched" and not is_distributed()
            for name, table in live.items():
                rows = self.probe.rows_seen(name) if touched_only else None
                if touched_only and rows is None:
                    continue  # not looked up: nothing changed
                apply_mask(table, self.multipliers[name], rows)
            if self.is_update_step(step):
                ratio = self.config.update_ratio_at(step + 1)
                gradients = self.probe.reduced(live)
                moved = regrown = 0
                for name in sorted(live):
                    table = live[name]
                    mask = self.masks[name]
                    count = prune_count(ratio, int(mask.sum()))
                    new_mask, update = prune_and_grow(full_weight(table), mask, gradients[name], count)
                    self.set_masks({name: new_mask})
                    apply_mask(table, self.multipliers[name])  # pruned -> 0; grown were inactive, so already 0 with state 0
                    moved += update.pruned
                    regrown += update.regrown_same
                self.updates += 1
                self.probe.clear(live)
                stats.update({f"{self.name}/update_ratio": ratio, f"{self.name}/moved": float(moved), f"{self.name}/regrown_same": float(regrown)})
            elif self.config.grow == "last":
                self.probe.clear(live)
            self.probe.new_step(live)
        stats.update(self.stats())
        return stats
