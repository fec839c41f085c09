"""Finding the embedding tables inside a (possibly sharded) model and reaching their live storage.

A table is reached through :class:`TablePiece` s: views into the memory the model computes with, so an
in-place edit (``piece.weight.mul_(mask)``) changes the model. An unsharded ``EmbeddingBagCollection``
gives one piece per table; a ``ShardedEmbeddingBagCollection`` (``DistributedModelParallel``, table-wise
or column-wise) gives this process's shards, each with its row/column offset in the full table. The
optimizer state that lives next to a table (torchrec's fused optimizer, or an optimizer applied in
backward) is reached the same way, so masks can be applied to it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from recplug.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    import torch


@dataclass
class TablePiece:
    """A block ``weight[rows, cols]`` of one table held by this process.

    Attributes:
        weight: view of the live weights (R x C).
        row_offset, col_offset: position of the block in the full table (N x D).
        states: live optimizer-state views: element-wise (R x C) or row-wise (R,).
    """

    weight: torch.Tensor
    row_offset: int = 0
    col_offset: int = 0
    states: list[torch.Tensor] = field(default_factory=list)


@dataclass
class LiveTable:
    """One table as this process sees it.

    Attributes:
        name: table name.
        shape: full table shape (N, D).
        pieces: this process's blocks.
        sharded: the blocks are shards of a table spread over processes (gathering needs a collective).
    """

    name: str
    shape: tuple[int, int]
    pieces: list[TablePiece]
    sharded: bool = False


def _sharded_ebc_type() -> type | None:
    try:
        from torchrec.distributed.embeddingbag import ShardedEmbeddingBagCollection
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return ShardedEmbeddingBagCollection


def embedding_modules(module: torch.nn.Module) -> list[torch.nn.Module]:
    """Every (sharded or unsharded) ``EmbeddingBagCollection`` inside ``module``, itself included."""
    from torchrec import EmbeddingBagCollection

    sharded = _sharded_ebc_type()
    kinds = (EmbeddingBagCollection,) if sharded is None else (EmbeddingBagCollection, sharded)
    return [m for m in module.modules() if isinstance(m, kinds)]


def _state_tensors(optimizer: Any, param: Any) -> list[Any]:
    state = optimizer.state.get(param, {}) if hasattr(optimizer, "state") else {}
    return [v for v in state.values() if hasattr(v, "shape") and len(v.shape) >= 1]


def _unsharded_tables(ebc: torch.nn.Module, optimizers: list[Any]) -> list[LiveTable]:
    tables = []
    bags = cast("Mapping[str, torch.nn.EmbeddingBag]", ebc.embedding_bags)  # a ModuleDict of the tables
    for name, bag in bags.items():
        weight = bag.weight
        opts = list(getattr(weight, "_in_backward_optimizers", [])) + list(optimizers)
        states = [s for opt in opts for s in _state_tensors(opt, weight) if s.shape[0] == weight.shape[0]]
        piece = TablePiece(weight.data, 0, 0, [s.data if hasattr(s, "data") else s for s in states])
        tables.append(LiveTable(name, (int(weight.shape[0]), int(weight.shape[1])), [piece]))
    return tables


def _local_shards(tensor: Any) -> list[Any]:
    return list(tensor.local_shards()) if hasattr(tensor, "local_shards") else []


def _sharded_tables(ebc: torch.nn.Module) -> list[LiveTable]:
    state_dict = ebc.state_dict()
    fused = getattr(ebc, "fused_optimizer", None)
    fused_states: dict[str, list[Any]] = {}
    if fused is not None:
        for pname, param in fused.params.items():
            table = pname.split(".")[-2]
            fused_states[table] = list(fused.state.get(param, {}).values())
    tables = []
    for key, value in state_dict.items():
        if not key.endswith(".weight") or not key.startswith("embedding_bags."):
            continue
        name = key.split(".")[-2]
        shape = (int(value.size()[0]), int(value.size()[1]))
        shards = _local_shards(value)
        if not shards:  # a replicated (data-parallel) table is a plain tensor on every process
            if hasattr(value, "local_shards"):
                tables.append(LiveTable(name, shape, [], sharded=True))
                continue
            tables.append(LiveTable(name, shape, [TablePiece(value)]))
            continue
        state_shards = [_local_shards(s) for s in fused_states.get(name, [])]
        pieces = []
        for i, shard in enumerate(shards):
            rows, cols = (int(o) for o in shard.metadata.shard_offsets)
            states = [ss[i].tensor for ss in state_shards if i < len(ss)]
            pieces.append(TablePiece(shard.tensor, rows, cols, states))
        tables.append(LiveTable(name, shape, pieces, sharded=True))
    return tables


def live_tables(module: torch.nn.Module, optimizers: list[Any] | None = None) -> dict[str, LiveTable]:
    """``{table name: LiveTable}`` for every embedding table inside ``module``.

    Args:
        module: an ``EmbeddingBagCollection``, a sharded one, or any model containing them.
        optimizers: plain torch optimizers whose state should be reached too (fused and in-backward
            optimizers are found on their own).
    """
    sharded = _sharded_ebc_type()
    found: dict[str, LiveTable] = {}
    for ebc in embedding_modules(module):
        if sharded is not None and isinstance(ebc, sharded):
            tables = _sharded_tables(ebc)
        else:
            tables = _unsharded_tables(ebc, list(optimizers or []))
        for table in tables:
            if table.name in found:
                raise ConfigError(f"table {table.name!r} appears in two embedding modules; table names must be unique")
            found[table.name] = table
    return found


def is_distributed() -> bool:
    """Whether a torch.distributed process group with more than one process is running."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def full_weight(table: LiveTable) -> torch.Tensor:
    """The whole table (N x D) on every process (a collective when the table is sharded)."""
    import torch

    if not table.sharded:
        return table.pieces[0].weight.detach().clone()
    full = torch.zeros(table.shape, dtype=torch.float32)
    for piece in table.pieces:
        r, c = piece.weight.shape
        full[piece.row_offset : piece.row_offset + r, piece.col_offset : piece.col_offset + c] = piece.weight.detach().float().cpu()
    if is_distributed():
        import torch.distributed as dist

        dist.all_reduce(full)
    return full


def apply_mask(table: LiveTable, mask: torch.Tensor, rows: torch.Tensor | None = None) -> None:
    """Zero the weights and optimizer state of ``table`` where ``mask`` (N x D, 0/1 float or bool) is 0.

    Args:
        table: the live table.
        mask: the full table's mask.
        rows: only these rows (global ids; ``None``: all rows).

    Row-wise optimizer state (R,) is zeroed for rows without any active weight.
    """
    for piece in table.pieces:
        r, c = piece.weight.shape
        if rows is None:
            block = mask[piece.row_offset : piece.row_offset + r, piece.col_offset : piece.col_offset + c]
            block = block.to(piece.weight.device)
            piece.weight.mul_(block)
            for state in piece.states:
                if tuple(state.shape) == (r, c):
                    state.mul_(block)
                elif state.dim() == 1 and state.shape[0] == r:
                    state.mul_(block.any(dim=1))
            continue
        whole = piece.row_offset == 0 and r == table.shape[0]
        inside = rows if whole else rows[(rows >= piece.row_offset) & (rows < piece.row_offset + r)]
        # index_select, then the columns: far cheaper than advanced indexing mask[inside, a:b]
        block = mask.index_select(0, inside)[:, piece.col_offset : piece.col_offset + c].to(piece.weight.device)
        local = (inside - piece.row_offset).to(piece.weight.device)
        scale_rows(piece.weight, local, block)
        for state in piece.states:
            if tuple(state.shape) == (r, c):
                scale_rows(state, local, block)
            elif state.dim() == 1 and state.shape[0] == r:
                scale_rows(state, local, block.any(dim=1))


def scale_rows(tensor: torch.Tensor, rows: torch.Tensor, factor: torch.Tensor) -> None:
    """``tensor[rows] *= factor`` in place, for distinct ``rows``: a gather and a copy back, which on CPU
    cost a fraction of advanced indexing's read-modify-write."""
    tensor.index_copy_(0, rows, tensor.index_select(0, rows).mul_(factor))


def zero_entries(table: LiveTable, where: torch.Tensor) -> None:
    """Set the weights and element-wise optimizer state of ``table`` to 0 where ``where`` (N x D bool) is True."""
    for piece in table.pieces:
        r, c = piece.weight.shape
        block = where[piece.row_offset : piece.row_offset + r, piece.col_offset : piece.col_offset + c]
        block = block.to(piece.weight.device)
        piece.weight.masked_fill_(block, 0.0)
        for state in piece.states:
            if tuple(state.shape) == (r, c):
                state.masked_fill_(block, 0.0)


def table_specs(module: torch.nn.Module) -> list[Any]:
    """The :class:`recplug.protocols.TableSpec` s of every embedding module inside ``module``."""
    import torchrec
    from recplug.protocols import TableSpec

    specs = []
    for ebc in embedding_modules(module):
        for config in cast("list[Any]", ebc._embedding_bag_configs):  # torchrec's EmbeddingBagConfigs (untyped)
            pooling: Literal["sum", "mean"] = "mean" if config.pooling == torchrec.PoolingType.MEAN else "sum"
            specs.append(TableSpec(config.name, config.num_embeddings, config.embedding_dim, tuple(config.feature_names), pooling))
    return specs
