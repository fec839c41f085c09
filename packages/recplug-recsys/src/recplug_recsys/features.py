"""Sparse features of users and items as torchrec ``KeyedJaggedTensor`` s, built from a fitted schema.

:class:`FeatureSpace` applies a :class:`~recplug_recsys.schema.FittedSchema` to the users and items frames of
an interaction dataset (one row per entity, row = dense id): one jagged id column per feature, one embedding
table per feature (:meth:`FeatureSpace.table_specs`) and KJT batches (:meth:`FeatureSpace.user_kjt`,
:meth:`FeatureSpace.item_kjt`). No column name of any dataset appears here: the schema names them.

A KJT here has keys in the order of :attr:`FeatureSpace.user_features` / :attr:`item_features`, and for
a batch of ``B`` entities ``lengths`` of size ``F x B`` (feature-major) and ``values`` of size
``sum(lengths)``, as torchrec expects: ``L[f][b]`` values of feature ``f`` for entity ``b``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from recplug.errors import InvalidInputError
from recplug.protocols import TableSpec

from recplug_recsys.schema import FeatureConfig, FittedSchema

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    import torch


def csr_gather_index(offsets: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(index, lengths)``: positions in a CSR ``values`` array (``offsets`` N+1) of the bags of ``rows`` (B), in
    order, and the B bag lengths; ``values[index]`` is the jagged values of those rows."""
    import torch

    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    # position j of the output reads values[starts[b] + (j - first output position of b)]
    shift = starts - (torch.cumsum(lengths, 0) - lengths)
    index = torch.repeat_interleave(shift, lengths) + torch.arange(int(lengths.sum()), dtype=torch.int64)
    return index, lengths


@dataclass
class JaggedColumn:
    """Ids of one feature for ``N`` entities in CSR form: ``values`` (int64) and ``offsets`` (N + 1, int64)."""

    values: torch.Tensor
    offsets: torch.Tensor
    num_embeddings: int

    @classmethod
    def from_arrays(cls, values: np.ndarray, offsets: np.ndarray, num_embeddings: int) -> JaggedColumn:
        import torch

        return cls(torch.from_numpy(np.ascontiguousarray(values, np.int64)),
                   torch.from_numpy(np.ascontiguousarray(offsets, np.int64)), num_embeddings)

    @property
    def single_valued(self) -> bool:
        """Every entity has exactly one id (then a gather is one index)."""
        return self.values.numel() == self.offsets.numel() - 1

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(values, lengths)`` of the entities ``rows`` (B), in order."""
        import torch

        if self.single_valued:
            return self.values[rows], torch.ones_like(rows)
        index, lengths = csr_gather_index(self.offsets, rows)
        return self.values[index], lengths


def encode_tower(schema: FittedSchema, tower: str, frame: pl.DataFrame) -> dict[str, JaggedColumn]:
    """The jagged id columns of ``tower``'s (``"user"`` / ``"item"``) features for the ``N`` rows of ``frame``."""
    out = {}
    for name, feature in schema.features.items():
        if feature.tower == tower:
            values, offsets = feature.encode(frame)
            out[name] = JaggedColumn.from_arrays(values, offsets, feature.num_embeddings)
    return out


def kjt_of(columns: Mapping[str, JaggedColumn], features: Sequence[str], rows: torch.Tensor) -> Any:
    """A KJT (keys ``features``, stride ``B``) of the entities ``rows`` (B int64) of ``columns``."""
    import torch
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    parts = [columns[f].gather(rows) for f in features]
    return KeyedJaggedTensor.from_lengths_sync(
        keys=list(features),
        values=torch.cat([v for v, _ in parts]),
        lengths=torch.cat([n for _, n in parts]).to(torch.int32),
    )


class FeatureSpace:
    """Feature ids, table specs and KJT batches for the users and items of one dataset.

    Args:
        schema: the fitted schema (fit it with :meth:`fit` on the training tables, or load a saved one).
        users: one row per user, ``user_id`` 0..U-1 in order, with the columns the schema names.
        items: one row per item, ``item_id`` 0..I-1 in order.
    """

    def __init__(self, schema: FittedSchema, users: pl.DataFrame, items: pl.DataFrame) -> None:
        for frame, name, column in ((users, "users", "user_id"), (items, "items", "item_id")):
            if column not in frame.columns:
                raise InvalidInputError(f"the dataset's {name} table has no {column!r} column (dense ids 0..N-1)")
            ids = frame[column].to_numpy()
            if not np.array_equal(ids, np.arange(len(ids))):
                raise InvalidInputError(f"{name}: {column} must be 0..{len(ids) - 1} in order")
        self.schema = schema
        self.num_users, self.num_items = users.height, items.height
        self.columns: dict[str, JaggedColumn] = {**encode_tower(schema, "user", users),
                                                 **encode_tower(schema, "item", items)}
        self.user_features = schema.user_features
        self.item_features = schema.item_features

    @classmethod
    def fit(cls, declared: Mapping[str, FeatureConfig], users: pl.DataFrame, items: pl.DataFrame,
            embedding_dim: int) -> FeatureSpace:
        """Fit ``declared`` on these tables and build the space."""
        return cls(FittedSchema.fit(declared, users, items, embedding_dim), users, items)

    @property
    def vocabularies(self) -> dict[str, dict[str, int]]:
        """Per categorical / bag / text feature: value -> table row."""
        return {n: {v: i + f.offset for i, v in enumerate(f.vocabulary)}
                for n, f in self.schema.features.items() if f.vocabulary is not None and f.config.kind != "id"}

    def table_specs(self, features: Sequence[str], embedding_dim: int | None = None) -> list[TableSpec]:
        """See :meth:`FittedSchema.table_specs`."""
        return self.schema.table_specs(features, embedding_dim)

    def _kjt(self, features: Sequence[str], rows: Any, limit: int, what: str) -> Any:
        import torch

        rows = torch.as_tensor(rows, dtype=torch.int64).reshape(-1)
        if rows.numel() == 0:
            raise InvalidInputError(f"empty batch of {what}: a batch needs at least one {what[:-1]}")
        if int(rows.min()) < 0 or int(rows.max()) >= limit:
            raise InvalidInputError(f"{what} id outside [0, {limit}): got {int(rows.min())}..{int(rows.max())}")
        return kjt_of(self.columns, features, rows)

    def user_kjt(self, user_ids: Any) -> Any:
        """KJT of the user features of ``B`` users."""
        return self._kjt(self.user_features, user_ids, self.num_users, "users")

    def item_kjt(self, item_ids: Any) -> Any:
        """KJT of the item features of ``B`` items."""
        return self._kjt(self.item_features, item_ids, self.num_items, "items")
