"""Sparse features of users and items as torchrec ``KeyedJaggedTensor`` s.

:class:`FeatureSpace` turns the user and item frames of an interaction dataset (see
:class:`recplug_eval.datasets.movielens.MovieLensDataset`) into integer ids per feature, one embedding table
per feature (:meth:`FeatureSpace.table_specs`) and KJT batches (:meth:`FeatureSpace.user_kjt`,
:meth:`FeatureSpace.item_kjt`).

User features (one value each): ``user_id``, ``user_age`` (bucket: <18, 18-24, 25-34, 35-44, 45-49,
50-55, 56+), ``user_gender``, ``user_occupation``, ``user_zip`` (first ``zip_prefix`` characters).
Item features: ``item_id`` (one), ``item_genres`` (multi-valued, mean-pooled), ``item_decade`` (one;
0 = unknown year), ``item_title`` (title tokens, multi-valued, mean-pooled).

A KJT here has keys in the order of :attr:`FeatureSpace.user_features` / :attr:`item_features`, and for
a batch of ``B`` entities ``lengths`` of size ``F x B`` (feature-major) and ``values`` of size
``sum(lengths)``, as torchrec expects: ``L[f][b]`` values of feature ``f`` for entity ``b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recplug.errors import InvalidInputError
from recplug.protocols import TableSpec

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    import torch

USER_FEATURES = ("user_id", "user_age", "user_gender", "user_occupation", "user_zip")
ITEM_FEATURES = ("item_id", "item_genres", "item_decade", "item_title")
MULTI_VALUED = frozenset({"item_genres", "item_title"})
AGE_BUCKETS = (18, 25, 35, 45, 50, 56)


def table_name(feature: str) -> str:
    """The embedding table of ``feature``: ``"t_<feature>"``."""
    return f"t_{feature}"


def _vocab(values: Sequence[str]) -> dict[str, int]:
    """Sorted vocabulary with id 0 reserved for unknown / padding."""
    return {v: i + 1 for i, v in enumerate(sorted(set(values)))}


@dataclass
class JaggedColumn:
    """Ids of one feature for ``N`` entities: ``padded`` (N x max L) and ``lengths`` (N), int64 tensors."""

    padded: torch.Tensor
    lengths: torch.Tensor
    num_embeddings: int

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[int]], num_embeddings: int) -> JaggedColumn:
        """From one list of ids per entity (``N`` lists); stored padded (N x max L) with lengths (N)."""
        import torch

        lengths = torch.tensor([len(x) for x in lists], dtype=torch.int64)
        width = max(1, int(lengths.max())) if len(lists) else 1
        padded = torch.zeros(len(lists), width, dtype=torch.int64)
        for row, ids in enumerate(lists):
            padded[row, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.int64)
        return cls(padded, lengths, num_embeddings)

    @property
    def single_valued(self) -> bool:
        return bool((self.lengths == 1).all())

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(values, lengths)`` of the entities ``rows`` (B), in order."""
        import torch

        lengths = self.lengths[rows]
        if self.padded.shape[1] == 1 and self.single_valued:
            return self.padded[rows, 0], lengths
        block = self.padded[rows]
        mask = torch.arange(block.shape[1])[None, :] < lengths[:, None]
        return block[mask], lengths


class FeatureSpace:
    """Feature ids, table specs and KJT batches for the users and items of one dataset.

    Args:
        users: frame with ``user_id`` (0..U-1), ``age``, ``gender``, ``occupation``, ``zip``.
        items: frame with ``item_id`` (0..I-1), ``year``, ``genres`` (list), ``title_tokens`` (list).
        zip_prefix: characters of the zip code kept.
    """

    user_features = USER_FEATURES
    item_features = ITEM_FEATURES

    def __init__(self, users: pl.DataFrame, items: pl.DataFrame, zip_prefix: int = 3) -> None:
        import bisect

        for frame, name, column in ((users, "users", "user_id"), (items, "items", "item_id")):
            ids = frame[column].to_list()
            if ids != list(range(len(ids))):
                raise InvalidInputError(f"{name}: {column} must be 0..{len(ids) - 1} in order")
        self.num_users, self.num_items = users.height, items.height
        genders, occupations = _vocab(users["gender"].to_list()), _vocab(users["occupation"].to_list())
        zips = [z[:zip_prefix] for z in users["zip"].to_list()]
        zip_vocab = _vocab(zips)
        genre_vocab = _vocab([g for gs in items["genres"].to_list() for g in gs])
        token_vocab = _vocab([t for ts in items["title_tokens"].to_list() for t in ts])
        years = items["year"].to_list()
        decades = sorted({y // 10 for y in years if y > 0})
        decade_vocab = {d: i + 1 for i, d in enumerate(decades)}
        self.vocabularies: dict[str, dict[Any, int]] = {
            "user_gender": genders, "user_occupation": occupations, "user_zip": zip_vocab,
            "item_genres": genre_vocab, "item_title": token_vocab, "item_decade": decade_vocab,
        }
        self.columns: dict[str, JaggedColumn] = {
            "user_id": JaggedColumn.from_lists([[u] for u in range(self.num_users)], self.num_users),
            "user_age": JaggedColumn.from_lists(
                [[bisect.bisect_right(AGE_BUCKETS, a)] for a in users["age"].to_list()], len(AGE_BUCKETS) + 1),
            "user_gender": JaggedColumn.from_lists([[genders[g]] for g in users["gender"].to_list()],
                                                   len(genders) + 1),
            "user_occupation": JaggedColumn.from_lists(
                [[occupations[o]] for o in users["occupation"].to_list()], len(occupations) + 1),
            "user_zip": JaggedColumn.from_lists([[zip_vocab[z]] for z in zips], len(zip_vocab) + 1),
            "item_id": JaggedColumn.from_lists([[i] for i in range(self.num_items)], self.num_items),
            "item_genres": JaggedColumn.from_lists(
                [[genre_vocab[g] for g in gs] for gs in items["genres"].to_list()], len(genre_vocab) + 1),
            "item_decade": JaggedColumn.from_lists(
                [[decade_vocab.get(y // 10, 0) if y > 0 else 0] for y in years], len(decade_vocab) + 1),
            "item_title": JaggedColumn.from_lists(
                [[token_vocab[t] for t in ts] for ts in items["title_tokens"].to_list()], len(token_vocab) + 1),
        }

    def table_specs(self, features: Sequence[str], embedding_dim: int) -> list[TableSpec]:
        """One :class:`TableSpec` per feature (``mean`` pooling for multi-valued ones)."""
        return [
            TableSpec(table_name(f), self.columns[f].num_embeddings, embedding_dim, (f,),
                      "mean" if f in MULTI_VALUED else "sum")
            for f in features
        ]

    def _kjt(self, features: Sequence[str], rows: Any, limit: int, what: str) -> Any:
        import torch
        from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

        rows = torch.as_tensor(rows, dtype=torch.int64).reshape(-1)
        if rows.numel() == 0:
            raise InvalidInputError(f"empty batch of {what}: a batch needs at least one {what[:-1]}")
        if int(rows.min()) < 0 or int(rows.max()) >= limit:
            raise InvalidInputError(f"{what} id outside [0, {limit}): got {int(rows.min())}..{int(rows.max())}")
        parts = [self.columns[f].gather(rows) for f in features]
        return KeyedJaggedTensor.from_lengths_sync(
            keys=list(features),
            values=torch.cat([v for v, _ in parts]),
            lengths=torch.cat([n for _, n in parts]).to(torch.int32),
        )

    def user_kjt(self, user_ids: Any) -> Any:
        """KJT of the user features of ``B`` users."""
        return self._kjt(self.user_features, user_ids, self.num_users, "users")

    def item_kjt(self, item_ids: Any) -> Any:
        """KJT of the item features of ``B`` items."""
        return self._kjt(self.item_features, item_ids, self.num_items, "items")
