"""Row-sharing baselines: the hashing trick, the quotient-remainder (compositional) trick and feature
multiplexing (several tables hashed into one shared table).

Both train a torchrec ``EmbeddingBagCollection`` over smaller *virtual* tables and map each id to rows of
them before the lookup: :class:`RemappedEmbeddingBags` rewrites the KeyedJaggedTensor's values, calls the
inner collection (which ``DistributedModelParallel`` can shard like any other) and sums the parts of each
original feature. The QR trick combines its two rows by addition so that pooling stays linear (sum or mean
of ``Q[id // m] + R[id mod m]`` is the pooled Q plus the pooled R), which keeps the inner lookups pooled
and shardable.

Budgets: at ``density`` d a table of N rows keeps ⌊d·N⌋ rows of D float32 (hashing) or a remainder
table of m rows and a quotient table of ⌈N/m⌉ rows with m + ⌈N/m⌉ ≤ ⌊d·N⌋ (QR, m as large as fits); the tables
of a multiplexed group share ⌊d·ΣN⌋ rows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from recplug.builtins.dense_tables import DenseTables, check_tables
from recplug.errors import ConfigError
from recplug.protocols import CompressorCapabilities, ExportInfo, TableSpec

from recplug_dynamic_sparse.config import check_common, check_dense_below_rows, check_density, check_seed, row_budget
from recplug_dynamic_sparse.live_tables import full_weight, live_tables
from recplug_dynamic_sparse.serving import load_export_file, write_export
from recplug_dynamic_sparse.sparse_rows import HASH_PRIME, DenseRows, HashedRows, QuotientRemainderRows, universal_hash


@dataclass(frozen=True)
class VirtualPart:
    """One virtual table serving an original table: ids map to ``op(id)`` rows of it.

    ``op`` is ``"hash"`` (``((a·id + b) mod P) mod rows``), ``"quotient"`` (``id // m``), ``"remainder"``
    (``id mod m``) or ``"identity"`` (a small table kept dense). ``shared``: the name of a virtual table that
    several original tables hash into (feature multiplexing); empty: the virtual table is this table's own.
    """

    original: TableSpec
    suffix: str
    rows: int
    op: str
    a: int = 0
    b: int = 0
    m: int = 1
    shared: str = ""

    @property
    def spec(self) -> TableSpec:
        """The virtual table, with this part's features only (:func:`virtual_tables` merges shared ones)."""
        t = self.original
        name = self.shared or t.name + self.suffix
        return TableSpec(name, self.rows, t.embedding_dim, tuple(f + self.suffix for f in t.feature_names), t.pooling)

    def map_ids(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.long()
        if self.op == "hash":
            return universal_hash(ids, self.a, self.b, self.rows)
        if self.op == "quotient":
            return ids // self.m
        if self.op == "identity":
            return ids
        return ids % self.m


def virtual_tables(parts: Sequence[VirtualPart]) -> list[TableSpec]:
    """The virtual tables of ``parts``: one per name, with the features of every part that maps into it."""
    merged: dict[str, TableSpec] = {}
    for part in parts:
        spec = part.spec
        seen = merged.get(spec.name)
        merged[spec.name] = spec if seen is None else TableSpec(
            spec.name, spec.num_embeddings, spec.embedding_dim, seen.feature_names + spec.feature_names, spec.pooling)
    return list(merged.values())


class RemappedEmbeddingBags(torch.nn.Module):
    """KeyedJaggedTensor (original features) -> KeyedTensor (B x sum D), through virtual tables.

    Ids are mapped to rows of the virtual tables, looked up in ``self.ebc`` (a torchrec
    ``EmbeddingBagCollection`` that ``DistributedModelParallel`` shards like any other) and the parts of
    each original feature are summed.

    Example::

        >>> import torch
        >>> from recplug.protocols import TableSpec
        >>> from torchrec import KeyedJaggedTensor
        >>> table = TableSpec("t_item", 100, 4, ("item",))  # N=100, D=4
        >>> parts = [VirtualPart(table, "_q", 10, "quotient", m=10), VirtualPart(table, "_r", 10, "remainder", m=10)]
        >>> bags = RemappedEmbeddingBags(parts)  # Q[id // 10] + R[id % 10]: 20 rows instead of 100
        >>> kjt = KeyedJaggedTensor.from_lengths_sync(  # B=2 bags: items {7} and {42, 99}
        ...     keys=["item"], values=torch.tensor([7, 42, 99]), lengths=torch.tensor([1, 2]))
        >>> bags(kjt).to_dict()["item"].shape  # B x D
        torch.Size([2, 4])
    """

    def __init__(self, parts: Sequence[VirtualPart], device: str = "cpu", init_std: float | None = None) -> None:
        super().__init__()
        self.parts = list(parts)
        self.ebc = DenseTables(device=device, init_std=init_std).build(virtual_tables(self.parts))
        self.originals = list(dict.fromkeys(p.original for p in self.parts))

    def forward(self, features: Any) -> Any:
        from torchrec import KeyedJaggedTensor, KeyedTensor

        by_key = features.to_dict()
        keys, values, lengths, weights = [], [], [], []
        has_weights = features.weights_or_none() is not None
        for part in self.parts:
            for feature in part.original.feature_names:
                jagged = by_key[feature]
                keys.append(feature + part.suffix)
                values.append(part.map_ids(jagged.values()))
                lengths.append(jagged.lengths())
                if has_weights:
                    weights.append(jagged.weights())
        kjt = KeyedJaggedTensor.from_lengths_sync(
            keys=keys, values=torch.cat(values), lengths=torch.cat(lengths), weights=torch.cat(weights) if has_weights else None
        )
        out = self.ebc(kjt)
        if not isinstance(out, KeyedTensor):  # a sharded inner collection returns an awaitable
            out = out.wait()
        inner = out.to_dict()
        names, pooled, dims = [], [], []
        for table in self.originals:
            for feature in table.feature_names:
                names.append(feature)
                pooled.append(sum(inner[feature + p.suffix] for p in self.parts if p.original == table))
                dims.append(table.embedding_dim)
        return KeyedTensor(keys=names, length_per_key=dims, values=torch.cat(pooled, dim=1))


class RemappedTables:
    """Base of the row-sharing compressors: subclasses give the virtual parts of each table."""

    name = "remapped"
    capabilities = CompressorCapabilities(export=True, fused=True, sharded=True)

    def __init__(
        self, density: float = 0.2, seed: int = 0, dense_below_rows: int = 100, device: str = "cpu", init_std: float | None = None,
    ) -> None:
        check_dense_below_rows(dense_below_rows)
        check_density(density)
        check_seed(seed)
        check_common(device, init_std, self.name)
        self.density = density
        self.dense_below_rows = dense_below_rows
        self.seed = seed
        self.device = device
        self.init_std = init_std

    def parts(self, table: TableSpec) -> list[VirtualPart]:
        raise NotImplementedError

    def parts_of(self, table: TableSpec) -> list[VirtualPart]:
        """The virtual tables of ``table``: itself when it has fewer than ``dense_below_rows`` rows."""
        if table.num_embeddings < self.dense_below_rows:
            return [VirtualPart(table, "", table.num_embeddings, "identity")]
        return self.parts(table)

    def build(self, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """A module with the EmbeddingBagCollection interface over the virtual tables."""
        tables = check_tables(tables, self.name)
        return RemappedEmbeddingBags([p for t in tables for p in self.parts_of(t)], self.device, self.init_std)

    def attach_optimizer(self, optimizer: Any) -> None:
        """Nothing to do: this compressor keeps no optimizer state of its own."""

    def after_optimizer_step(self, module: torch.nn.Module, step: int) -> dict[str, float]:
        """Nothing to do between steps."""
        return {}

    def _parts_and_weights(self, module: torch.nn.Module) -> tuple[list[TableSpec], list[VirtualPart], dict[str, torch.Tensor]]:
        remapped = next((m for m in module.modules() if isinstance(m, RemappedEmbeddingBags)), None)
        if remapped is None:
            raise ConfigError(f"{self.name}: export needs the module built by this compressor")
        live = live_tables(remapped.ebc)
        return list(remapped.originals), list(remapped.parts), {name: full_weight(t) for name, t in live.items()}

    def export(self, module: torch.nn.Module, path: Path) -> ExportInfo:
        """Write the virtual tables and their id maps (process 0 writes when sharded)."""
        originals, parts, weights = self._parts_and_weights(module)
        sources = {t.name: self._serving_rows(t, [p for p in parts if p.original == t], weights) for t in originals}
        return write_export(Path(path), self.name, originals, sources)

    def _serving_rows(self, table: TableSpec, parts: list[VirtualPart], weights: dict[str, torch.Tensor]) -> torch.nn.Module:
        if parts[0].op == "identity":
            return DenseRows(weights[table.name])
        return self.serving_rows(table, parts, weights)

    def serving_rows(self, table: TableSpec, parts: list[VirtualPart], weights: dict[str, torch.Tensor]) -> torch.nn.Module:
        raise NotImplementedError

    def load_export(self, path: Path, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """A serving module from :meth:`export` output."""
        return load_export_file(Path(path), self.name, tables)


def hashed_part(table: TableSpec, rows: int, seed: int, shared: str = "") -> VirtualPart:
    """``table`` hashed into ``rows`` rows (of its own table, or of the table named ``shared``), with ``a, b`` drawn
    from ``seed`` and the table's name."""
    rng = random.Random(f"{seed}/{table.name}")
    return VirtualPart(table, "", rows, "hash", a=rng.randrange(1, HASH_PRIME), b=rng.randrange(0, HASH_PRIME),
                       shared=shared)


class HashedTables(RemappedTables):
    """The hashing trick: ⌊density · N⌋ shared rows, id -> ((a·id + b) mod P) mod rows.

    Args:
        density: fraction of rows kept, in (0, 1].
        seed: picks the hash parameters a, b.
        dense_below_rows: tables with fewer rows stay dense.
    """

    name = "hashing"

    def parts(self, table: TableSpec) -> list[VirtualPart]:
        return [hashed_part(table, row_budget(table, self.density), self.seed)]

    def serving_rows(self, table: TableSpec, parts: list[VirtualPart], weights: dict[str, torch.Tensor]) -> torch.nn.Module:
        (part,) = parts
        return HashedRows(weights[part.spec.name], part.a, part.b)


def quotient_remainder_size(rows: int, budget: int) -> int:
    """The largest m with m + ⌈rows / m⌉ ≤ budget; a ConfigError when none exists.

    ``f(m) = m + ⌈rows / m⌉`` is smallest near √rows and non-decreasing above it, where the largest
    solution lies, so a binary search finds it in O(log budget) steps even for tables of 10**15 rows.
    """

    def size(m: int) -> int:
        return m + -(-rows // m)

    root = math.isqrt(rows)
    low = root + 1 if root * (root + 1) < rows else max(root, 1)  # f is non-decreasing from here on
    if low > budget - 1 or size(low) > budget:
        raise ConfigError(f"a table of {rows} rows cannot be split into quotient and remainder tables within {budget} rows")
    high = budget - 1  # size(low) <= budget; find the last m in [low, high] with size(m) <= budget
    while low < high:
        middle = (low + high + 1) // 2
        if size(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


class QuotientRemainderTables(RemappedTables):
    """The quotient-remainder trick: ``Q[id // m] + R[id mod m]`` within ⌊density · N⌋ rows in total.

    Args:
        density: fraction of rows kept, in (0, 1].
        dense_below_rows: tables with fewer rows stay dense.
    """

    name = "quotient-remainder"

    def parts(self, table: TableSpec) -> list[VirtualPart]:
        budget = row_budget(table, self.density, minimum=3)
        m = quotient_remainder_size(table.num_embeddings, budget)
        quotient_rows = math.ceil(table.num_embeddings / m)
        return [
            VirtualPart(table, "__q", quotient_rows, "quotient", m=m),
            VirtualPart(table, "__r", m, "remainder", m=m),
        ]

    def serving_rows(self, table: TableSpec, parts: list[VirtualPart], weights: dict[str, torch.Tensor]) -> torch.nn.Module:
        quotient, remainder = parts
        return QuotientRemainderRows(weights[quotient.spec.name], weights[remainder.spec.name])


class MultiplexedTables(HashedTables):
    """Feature multiplexing (Coleman et al., "Unified Embedding", NeurIPS 2023): the tables of a group share one
    table of ⌊density · ΣN⌋ rows, and each table hashes its ids into it with a hash function of its own
    (``((a·id + b) mod P) mod rows``, ``a, b`` drawn per table from ``seed``), so the features' collisions land on
    different rows and the shared rows serve every feature.

    Args:
        density: the shared table's rows as a fraction of its group's rows, in (0, 1]: the budget.
        groups: lists of feature names whose tables share one table (a table joins through any of its features);
            tables of a group must agree on the embedding dimension and pooling, and a table named in no group
            keeps its own dense table. ``None`` (default): every table of at least ``dense_below_rows`` rows,
            grouped by embedding dimension and pooling.
        seed: picks the hash parameters of each table.
        dense_below_rows: with ``groups=None``, tables with fewer rows stay dense.

    The paper's multi-probe variant (several hashed chunks concatenated per feature) is not built here: each
    table looks up one row of its group's table. Serving is the hashing trick's (:class:`HashedTables`): the tables
    of a group get one tensor, which the export stores and counts once.
    """

    name = "multiplexed"

    def __init__(self, density: float = 0.2, groups: Sequence[Sequence[str]] | None = None, seed: int = 0,
                 dense_below_rows: int = 100, device: str = "cpu", init_std: float | None = None) -> None:
        super().__init__(density, seed, dense_below_rows, device, init_std)
        if groups is not None:
            if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not groups or any(
                    isinstance(g, (str, bytes)) or not isinstance(g, Sequence) or not g
                    or not all(isinstance(f, str) for f in g) for g in groups):
                raise ConfigError(f"{self.name}: groups must be a non-empty list of non-empty lists of feature names, "
                                  f"got {groups!r}")
            groups = [list(g) for g in groups]
            listed = [f for g in groups for f in g]
            repeated = sorted({f for f in listed if listed.count(f) > 1})
            if repeated:
                raise ConfigError(f"{self.name}: feature(s) {repeated} are listed in more than one group")
        self.groups = groups

    def table_groups(self, tables: Sequence[TableSpec]) -> list[list[TableSpec]]:
        """The groups of tables that share one table (``groups``, or by dimension and pooling)."""
        if self.groups is None:
            by_shape: dict[tuple[int, str], list[TableSpec]] = {}
            for table in tables:
                if table.num_embeddings >= self.dense_below_rows:
                    by_shape.setdefault((table.embedding_dim, table.pooling), []).append(table)
            return list(by_shape.values())
        owner = {f: t for t in tables for f in t.feature_names}
        found = []
        for group in self.groups:
            unknown = [f for f in group if f not in owner]
            if unknown:
                raise ConfigError(f"{self.name}: group {group}: no table serves feature(s) {unknown}; features: "
                                  f"{', '.join(owner)}")
            members = list(dict.fromkeys(owner[f] for f in group))
            shapes = {(t.embedding_dim, t.pooling) for t in members}
            if len(shapes) > 1:
                raise ConfigError(f"{self.name}: group {group}: its tables must share one embedding dimension and "
                                  f"pooling, got {sorted(shapes)}")
            found.append(members)
        grouped = [t.name for g in found for t in g]
        repeated = sorted({n for n in grouped if grouped.count(n) > 1})
        if repeated:
            raise ConfigError(f"{self.name}: table(s) {repeated} fall in more than one group (through different features)")
        return found

    def build(self, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """A module with the EmbeddingBagCollection interface: one virtual table per group, the others dense."""
        tables = check_tables(tables, self.name)
        names = {t.name for t in tables}
        parts: dict[str, VirtualPart] = {}
        for i, group in enumerate(self.table_groups(tables)):
            shared = f"multiplexed_{i}"
            if shared in names:
                raise ConfigError(f"{self.name}: a table is named {shared!r}, the name of a shared table; rename it")
            total = sum(t.num_embeddings for t in group)
            rows = math.floor(self.density * total)
            if rows < 1:
                raise ConfigError(f"{self.name}: table(s) {[t.name for t in group]} ({total} rows in all) are too small "
                                  f"for density {self.density}: no row left to share")
            for table in group:
                parts[table.name] = hashed_part(table, rows, self.seed, shared)
        ordered = [parts.get(t.name) or VirtualPart(t, "", t.num_embeddings, "identity") for t in tables]
        return RemappedEmbeddingBags(ordered, self.device, self.init_std)
