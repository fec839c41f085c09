"""Typed configurations of the compressors in this plugin, validated on construction.

Every check raises :class:`recplug.errors.ConfigError` naming the field and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from recplug.builtins.dense_tables import check_init_std
from recplug.checks import check_choice, check_int, check_real
from recplug.errors import ConfigError
from recplug.protocols import TableSpec

#: seeds are mixed into 64-bit generator seeds (seed · 1_000_003 + crc32), so they must stay within 32 bits
SEED_RANGE = (-(2**32), 2**32 - 1)


def check_density(density: float, what: str = "density") -> None:
    """``density`` must lie in (0, 1]."""
    check_real(density, what, low=0.0, high=1.0, low_open=True)


def check_seed(seed: int) -> int:
    """``seed`` must be an integer within 32 bits (either sign)."""
    return check_int(seed, "seed", low=SEED_RANGE[0], high=SEED_RANGE[1])


def check_common(device: str, init_std: float | None, owner: str) -> None:
    """The table options every compressor of this plugin shares: ``device`` a string naming a device,
    ``init_std`` None or a finite number in [0, 100] (the device itself is checked when the tables are built)."""
    if not isinstance(device, str) or not device:
        raise ConfigError(f"{owner}: device must be a string such as 'cpu', 'cuda' or 'meta', got {device!r}")
    check_init_std(init_std, owner)


@dataclass(frozen=True)
class DSLConfig:
    """Dynamic Sparse Learning (Wang et al., WSDM 2024).

    Attributes:
        density: fraction of each table's weights that are active, kept for the whole run.
        delta_t: ΔT, optimizer steps between two prune/grow updates.
        total_steps: training length in steps; the update ratio decays over it.
        update_ratio: r_0, the fraction of active weights pruned (and regrown) at the first update.
        final_update_ratio: r at ``total_steps`` (cosine decay from ``update_ratio``).
        grow: ``"accumulated"`` grows by |Σ gradient| over the last ΔT steps; ``"last"`` by the last
            mini-batch's gradient only (the paper's official code).
        seed: seed of the random initial masks (the same on every process).
        mask_rows: between updates, ``"touched"`` masks only the rows looked up in the step (a single
            process only; exact for fused optimizers, plain SGD/Adagrad, and any optimizer given to
            ``attach_optimizer``, since the gradient outside the mask is zeroed), ``"all"`` every row every
            step (for optimizers that move weights without gradient, e.g. Adam or momentum not attached).
        dense_below_rows: tables with fewer rows stay dense (small feature tables such as gender cost
            little; every compressor of this plugin has this option, so comparisons are fair).
        device: where the tables live (``"cpu"``, ``"cuda"`` or ``"meta"`` for sharded init).
        init_std: normal initialisation std (``None`` keeps torchrec's uniform init).
        value_bits: the exported values: 32 keeps them float32 (serving equals the masked model exactly), 8
            stores int8 codes with a float16 scale per row (about 0.42x the sparse rows' bytes at 20% density,
            D = 64; serving then approximates the model, within max |w| / 254 per row).
    """

    density: float = 0.2
    delta_t: int = 100
    total_steps: int = 10_000
    update_ratio: float = 0.5
    final_update_ratio: float = 0.005
    grow: Literal["accumulated", "last"] = "accumulated"
    seed: int = 0
    dense_below_rows: int = 100
    mask_rows: Literal["touched", "all"] = "touched"
    device: str = "cpu"
    init_std: float | None = None
    value_bits: int = 32

    def __post_init__(self) -> None:
        check_density(self.density)
        check_value_bits(self.value_bits)
        check_delta_t(self.delta_t)
        check_dense_below_rows(self.dense_below_rows)
        check_int(self.total_steps, "total_steps", low=1)
        for name in ("update_ratio", "final_update_ratio"):
            check_real(getattr(self, name), name, low=0.0, high=1.0)
        check_choice(self.mask_rows, "mask_rows", ("touched", "all"))
        check_choice(self.grow, "grow", ("accumulated", "last"))
        check_seed(self.seed)
        check_common(self.device, self.init_std, "dsl")

    def active_weights(self, table: TableSpec) -> int:
        """Active weights kept in ``table``: round(density · rows · D); too few is a ConfigError."""
        return weight_budget(table, self.density)

    def update_ratio_at(self, step: int) -> float:
        """r_t: cosine decay from ``update_ratio`` at step 0 to ``final_update_ratio`` at ``total_steps``."""
        progress = min(max(step, 0), self.total_steps) / self.total_steps
        low, high = self.final_update_ratio, self.update_ratio
        return low + 0.5 * (high - low) * (1.0 + math.cos(math.pi * progress))


def weight_budget(table: TableSpec, density: float) -> int:
    """Weights a table at ``density`` may keep: round(density · N · D); none at all is a ConfigError."""
    check_density(density)
    budget = round(density * table.num_embeddings * table.embedding_dim)
    if budget < 1:
        raise ConfigError(
            f"table {table.name!r} ({table.num_embeddings} x {table.embedding_dim}) is too small for density "
            f"{density}: it would keep no weight"
        )
    return budget


def check_dense_below_rows(rows: int) -> None:
    """``dense_below_rows`` must be a non-negative integer."""
    check_int(rows, "dense_below_rows", low=0)


def row_budget(table: TableSpec, density: float, minimum: int = 1) -> int:
    """Rows a row-compressed table (hashing, QR) may keep at ``density``; below ``minimum`` is a ConfigError."""
    check_density(density)
    rows = math.floor(density * table.num_embeddings)
    if rows < minimum:
        raise ConfigError(
            f"table {table.name!r} ({table.num_embeddings} rows) is too small for density {density}: "
            f"{rows} rows left, at least {minimum} needed"
        )
    return rows


def check_value_bits(value_bits: int) -> None:
    """Exported sparse values are float32 (32) or int8 with a scale per row (8)."""
    if isinstance(value_bits, bool) or not isinstance(value_bits, int) or value_bits not in (32, 8):
        raise ConfigError(f"value_bits must be 32 (float32 values, exact) or 8 (int8 values, a scale per row), got {value_bits!r}")


def check_delta_t(delta_t: int) -> None:
    """ΔT must be a positive integer."""
    check_int(delta_t, "delta_t (ΔT)", low=1)
