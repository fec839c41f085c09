"""Row-wise quantized tables (int8 or int4), a baseline.

Export stores each row as ``bits``-bit codes with a float16 scale and offset (N x (D·bits/8 + 4) bytes),
and serving dequantizes the rows it looks up. Two ways to get there:

- ``mode="low-precision"`` (default; low-precision training, Yang et al. 2020): after every optimizer
  step each row is projected onto its quantization grid with stochastic (unbiased) rounding, so the
  trained model *is* the quantized model and serving gives its scores exactly.
- ``mode="post-training"``: plain float32 training, quantized once at export.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recplug.builtins.dense_tables import DenseTables
from recplug.checks import check_choice
from recplug.protocols import CompressorCapabilities, ExportInfo, TableSpec

from recplug_dynamic_sparse.config import check_common, check_seed

if TYPE_CHECKING:  # pragma: no cover
    import torch


class QuantizedTables:
    """Dense training, row-wise ``bits``-bit export (component names ``"int8"`` and ``"int4"``).

    Args:
        bits: 8 or 4.
        device, init_std: as for the dense tables.
    """

    name = "int8"
    capabilities = CompressorCapabilities(export=True, fused=True, sharded=True)

    def __init__(self, bits: int = 8, mode: str = "low-precision", seed: int = 0, device: str = "cpu", init_std: float | None = None) -> None:
        check_choice(bits, "bits", (8, 4))
        check_choice(mode, "mode", ("low-precision", "post-training"))
        check_seed(seed)
        check_common(device, init_std, f"int{bits}")
        self.mode = mode
        self.seed = seed
        if mode == "low-precision":  # projected onto the grid after every step
            self.capabilities = replace(self.capabilities, after_step=True)
        self.bits = bits
        self.name = f"int{bits}"
        self.device = device
        self.init_std = init_std

    def build(self, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """A plain ``EmbeddingBagCollection`` (projected onto the grid in low-precision mode)."""
        module = DenseTables(device=self.device, init_std=self.init_std).build(tables)
        if self.mode == "low-precision" and self.device != "meta":
            self.after_optimizer_step(module, -1)
        return module

    def attach_optimizer(self, optimizer: Any) -> None:
        """Nothing to do: this compressor keeps no optimizer state of its own."""

    def after_optimizer_step(self, module: torch.nn.Module, step: int) -> dict[str, float]:
        """Low-precision mode: project every row onto its ``bits``-bit grid (stochastic rounding)."""
        import torch

        from recplug_dynamic_sparse.live_tables import live_tables
        from recplug_dynamic_sparse.sparse_rows import QuantizedRows

        if self.mode != "low-precision":
            return {}
        with torch.no_grad():
            for name, table in live_tables(module).items():
                # the same rounding on every process, so replicated tables stay identical
                generator = torch.Generator().manual_seed(zlib.crc32(f"{self.seed}/{name}/{step}".encode()))
                for piece in table.pieces:
                    codes, scale, low = QuantizedRows.quantize(piece.weight, self.bits, generator)
                    piece.weight.copy_(codes.float() * scale[:, None] + low[:, None])
        return {}

    def export(self, module: torch.nn.Module, path: Path) -> ExportInfo:
        """Quantize every table row-wise and write it (process 0 writes when sharded)."""
        from recplug_dynamic_sparse.live_tables import full_weight, live_tables, table_specs
        from recplug_dynamic_sparse.serving import write_export
        from recplug_dynamic_sparse.sparse_rows import QuantizedRows

        specs = table_specs(module)
        live = live_tables(module)
        sources = {t.name: QuantizedRows.from_dense(full_weight(live[t.name]), self.bits) for t in specs}
        return write_export(Path(path), self.name, specs, sources)

    def load_export(self, path: Path, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """A serving module that dequantizes looked-up rows."""
        from recplug_dynamic_sparse.serving import load_export_file

        return load_export_file(Path(path), self.name, tables)
