"""A lookup of every item's sparse features: item ids -> ``KeyedJaggedTensor`` (F keys x B items).

The SSL regularizer samples its own items, so it needs their features; this table holds, per feature, a
CSR layout over the N items (``offsets`` N+1, ``values``, optional ``weights``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from recplug.errors import InvalidInputError
from recplug_recsys import csr_gather_index

if TYPE_CHECKING:  # pragma: no cover
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor


@dataclass(frozen=True)
class JaggedIds:
    """The ids of one feature for N items: ``values`` (sum of bag lengths) and ``offsets`` (N + 1)."""

    values: torch.Tensor
    offsets: torch.Tensor


class ItemFeatureTable:
    """Per-item jagged features, with the interface the SSL factory reads from a feature space
    (``item_kjt(ids)``, ``num_items``, ``columns[feature].values/offsets``).

    Args:
        bags: per feature name, a list of N bags (each a sequence of int ids; N is the number of items).
        weights: optional per feature name, N bags of float weights of the same lengths (a weighted KJT
            comes out if any feature has weights; the others get weight 1).
    """

    def __init__(
        self, bags: Mapping[str, Sequence[Sequence[int]]], weights: Mapping[str, Sequence[Sequence[float]]] | None = None
    ) -> None:
        if not bags:
            raise InvalidInputError("item feature table needs at least one feature")
        sizes = {name: len(b) for name, b in bags.items()}
        if len(set(sizes.values())) != 1:
            raise InvalidInputError(f"every feature needs one bag per item; bag counts differ: {sizes}")
        self.keys: tuple[str, ...] = tuple(bags)
        self.num_items = next(iter(sizes.values()))
        self._values: dict[str, torch.Tensor] = {}
        self._offsets: dict[str, torch.Tensor] = {}
        self._weights: dict[str, torch.Tensor] | None = {} if weights else None
        for name, feature_bags in bags.items():
            lengths = torch.tensor([len(bag) for bag in feature_bags], dtype=torch.int64)
            self._offsets[name] = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
            flat = [int(v) for bag in feature_bags for v in bag]
            self._values[name] = torch.tensor(flat, dtype=torch.int64)
            if self._values[name].numel() and int(self._values[name].min()) < 0:
                raise InvalidInputError(f"feature {name!r} holds a negative id")
            if self._weights is not None:
                w = weights.get(name) if weights else None
                flat_w = [float(x) for bag in w for x in bag] if w is not None else [1.0] * len(flat)
                if len(flat_w) != len(flat):
                    raise InvalidInputError(f"feature {name!r}: weights and values differ in length")
                self._weights[name] = torch.tensor(flat_w, dtype=torch.float32)

    def max_bag_length(self, name: str) -> int:
        """The longest bag of feature ``name`` (> 1 means multi-valued)."""
        return int((self._offsets[name][1:] - self._offsets[name][:-1]).max()) if self.num_items else 0

    @property
    def columns(self) -> dict[str, JaggedIds]:
        """Per feature, its jagged ids over all items."""
        return {name: JaggedIds(self._values[name], self._offsets[name]) for name in self.keys}

    def item_kjt(self, item_ids: torch.Tensor) -> KeyedJaggedTensor:
        """Alias of :meth:`kjt` (the feature-space interface)."""
        return self.kjt(item_ids)

    def kjt(self, item_ids: torch.Tensor) -> KeyedJaggedTensor:
        """The features of ``item_ids`` (B int64): a KJT with keys :attr:`keys` and stride B."""
        from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

        ids = torch.as_tensor(item_ids, dtype=torch.int64).reshape(-1)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_items):
            raise InvalidInputError(f"item ids must lie in [0, {self.num_items}), got range [{int(ids.min())}, {int(ids.max())}]")
        values, lengths, weights = [], [], []
        for name in self.keys:
            index, bag_lengths = csr_gather_index(self._offsets[name], ids)
            values.append(self._values[name][index])
            lengths.append(bag_lengths)
            if self._weights is not None:
                weights.append(self._weights[name][index])
        return KeyedJaggedTensor(
            keys=list(self.keys),
            values=torch.cat(values),
            lengths=torch.cat(lengths),
            weights=torch.cat(weights) if self._weights is not None else None,
        )
