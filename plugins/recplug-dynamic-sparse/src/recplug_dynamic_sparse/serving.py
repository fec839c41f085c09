"""Serving from compact tables: an ``EmbeddingBagCollection``-like module and its export file.

:class:`CompactEmbeddingBags` maps a KeyedJaggedTensor to a KeyedTensor of pooled embeddings (B x sum D),
like ``torchrec.EmbeddingBagCollection``, but reads each table from a compact ``*Rows`` module
(:mod:`recplug_dynamic_sparse.sparse_rows`), so the memory it holds is the real serving size.

The export file is one ``torch.save`` of plain tensors, strings and numbers (loaded with
``weights_only=True``)::

    {"format": "recplug-dynamic-sparse/1", "compressor": name,
     "tables": {table: {"kind", "num_embeddings", "embedding_dim", "feature_names", "pooling", "payload"}}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from recplug.errors import CorruptFileError, IncompatibleFileError, InvalidInputError
from recplug.fileio import atomic_save_with
from recplug.protocols import ExportInfo, TableSpec

from recplug_dynamic_sparse.sparse_rows import ROW_KINDS, RowsModule

FORMAT = "recplug-dynamic-sparse/1"


class CompactEmbeddingBags(torch.nn.Module):
    """Pooled lookups from compact tables: KeyedJaggedTensor -> KeyedTensor (B x sum D).

    Args:
        tables: the table specs, in output order.
        sources: ``{table name: *Rows module}``.

    Example::

        >>> import torch
        >>> from recplug.protocols import TableSpec
        >>> from recplug_dynamic_sparse.sparse_rows import QuantizedRows
        >>> from torchrec import KeyedJaggedTensor
        >>> tables = [TableSpec("t_item", 10, 4, ("item",), pooling="mean")]
        >>> bags = CompactEmbeddingBags(tables, {"t_item": QuantizedRows.from_dense(torch.randn(10, 4), bits=8)})
        >>> kjt = KeyedJaggedTensor.from_lengths_sync(  # B=2 bags: items {1, 2} and {9}
        ...     keys=["item"], values=torch.tensor([1, 2, 9]), lengths=torch.tensor([2, 1]))
        >>> bags(kjt).values().shape  # B x sum D
        torch.Size([2, 4])
    """

    def __init__(self, tables: Sequence[TableSpec], sources: Mapping[str, torch.nn.Module]) -> None:
        super().__init__()
        self.tables = list(tables)
        self.sources = torch.nn.ModuleDict({t.name: sources[t.name] for t in self.tables})
        self._features = [(f, t) for t in self.tables for f in t.feature_names]

    def forward(self, features: Any) -> Any:
        from torchrec import KeyedTensor

        by_key = features.to_dict()
        missing = [f for f, _ in self._features if f not in by_key]
        if missing:
            raise InvalidInputError(f"serving tables: the batch lacks feature(s) {missing}; it has {sorted(by_key)}")
        pooled, dims = [], []
        for feature, table in self._features:
            jagged = by_key[feature]
            ids, lengths = jagged.values().long(), jagged.lengths().long()
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= table.num_embeddings):
                raise InvalidInputError(
                    f"serving tables: feature {feature!r} has ids {int(ids.min())}..{int(ids.max())}, table "
                    f"{table.name!r} has rows 0..{table.num_embeddings - 1}"
                )
            rows = cast(RowsModule, self.sources[table.name]).rows(ids)
            if jagged.weights_or_none() is not None:
                rows = rows * jagged.weights().float()[:, None]
            bag_of = torch.repeat_interleave(torch.arange(lengths.numel()), lengths)
            # index_add_ sums each bag in a fixed order (index_put_ with accumulate does not on several threads)
            out = torch.zeros(lengths.numel(), table.embedding_dim).index_add_(0, bag_of, rows)
            if table.pooling == "mean":
                out = out / lengths.clamp(min=1).float()[:, None]
            pooled.append(out)
            dims.append(table.embedding_dim)
        return KeyedTensor(keys=[f for f, _ in self._features], length_per_key=dims, values=torch.cat(pooled, dim=1))

    def nbytes(self) -> int:
        """Bytes the compact tables hold (a table several features share counted once)."""
        return held_bytes(dict(self.sources))


def held_bytes(sources: Mapping[str, torch.nn.Module]) -> int:
    """The bytes ``sources`` (``*Rows`` modules) hold, each tensor storage counted once: the tables of a multiplexed
    group hold one shared tensor (torch.save writes it once too)."""
    total, seen = 0, set()
    for source in sources.values():
        total += int(cast(RowsModule, source).nbytes())
        for value in cast(RowsModule, source).payload().values():
            if isinstance(value, torch.Tensor):
                storage = value.untyped_storage()
                key = (storage.data_ptr(), storage.nbytes())
                if key in seen:  # a shared storage: its bytes are already counted
                    total -= value.numel() * value.element_size()
                seen.add(key)
    return total


def save_export(path: Path, compressor: str, tables: Sequence[TableSpec], sources: Mapping[str, torch.nn.Module]) -> ExportInfo:
    """Write the compact tables atomically; ``serving_bytes`` is what :class:`CompactEmbeddingBags` holds."""
    record = {
        "format": FORMAT,
        "compressor": compressor,
        "tables": {
            t.name: {
                "kind": sources[t.name].kind,
                "num_embeddings": t.num_embeddings,
                "embedding_dim": t.embedding_dim,
                "feature_names": list(t.feature_names),
                "pooling": t.pooling,
                "payload": cast(RowsModule, sources[t.name]).payload(),
            }
            for t in tables
        },
    }
    atomic_save_with(path, lambda tmp: torch.save(record, tmp))
    per_table = {name: int(cast(RowsModule, source).nbytes()) for name, source in sources.items()}
    dense = sum(t.num_embeddings * t.embedding_dim * 4 for t in tables)
    details = {
        "tables": {name: {"kind": sources[name].kind, "serving_bytes": b} for name, b in per_table.items()},
        "dense_bytes": dense,
        "file_bytes": Path(path).stat().st_size,
    }
    return ExportInfo(Path(path), held_bytes(sources), details)


def write_export(path: Path, compressor: str, tables: Sequence[TableSpec], sources: Mapping[str, torch.nn.Module]) -> ExportInfo:
    """:func:`save_export` on process 0 only when several processes run (all must call it)."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else 0
    info = save_export(path, compressor, tables, sources) if rank == 0 else None
    if distributed:
        torch.distributed.barrier()
    return info or ExportInfo(Path(path), CompactEmbeddingBags(tables, sources).nbytes(), {})


def load_export_file(path: Path, compressor: str, tables: Sequence[TableSpec]) -> CompactEmbeddingBags:
    """Read :func:`save_export` output into a serving module; any mismatch with ``tables`` (names, rows,
    dimension, features, pooling) or another compressor's file is an IncompatibleFileError."""
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CorruptFileError(f"{path}: file is missing") from exc
    except Exception as exc:
        raise CorruptFileError(f"{path}: cannot be read as exported tables ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise IncompatibleFileError(f"{path}: not a {FORMAT} export (format {record.get('format') if isinstance(record, dict) else None!r})")
    if record["compressor"] != compressor:
        raise IncompatibleFileError(f"{path}: written by compressor {record['compressor']!r}, loading as {compressor!r}")
    saved = record["tables"]
    if set(saved) != {t.name for t in tables}:
        raise IncompatibleFileError(f"{path}: holds tables {sorted(saved)}, the model has {sorted(t.name for t in tables)}")
    sources = {}
    for t in tables:
        entry = saved[t.name]
        got = (entry["num_embeddings"], entry["embedding_dim"], tuple(entry["feature_names"]), entry["pooling"])
        want = (t.num_embeddings, t.embedding_dim, tuple(t.feature_names), t.pooling)
        if got != want:
            raise IncompatibleFileError(
                f"{path}: table {t.name!r} was exported as (rows, dim, features, pooling) = {got}, the model expects {want}"
            )
        if entry["kind"] not in ROW_KINDS:
            raise CorruptFileError(f"{path}: table {t.name!r} has unknown kind {entry['kind']!r}")
        try:
            sources[t.name] = ROW_KINDS[entry["kind"]].from_payload(entry["payload"], (t.num_embeddings, t.embedding_dim))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(f"{path}: table {t.name!r}: damaged payload ({exc})") from exc
    return CompactEmbeddingBags(tables, sources)
