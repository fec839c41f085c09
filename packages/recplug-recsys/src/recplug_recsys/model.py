"""The two-tower retrieval model on torchrec embedding tables.

Contract for regularizer and compressor plugins (SSL, dynamic sparse, ...)
-------------------------------------------------------------------------
* Class: :class:`recplug_recsys.model.TwoTowerModel` (an ``nn.Module``). The trainer passes it as
  ``model=`` to regularizer factories whose record has ``needs_model``. Under
  ``DistributedModelParallel`` the trainer passes the inner ``TwoTowerModel`` (``dmp.module``), whose
  ``user_ebc`` / ``item_ebc`` are then sharded modules with the same interface.
* ``model(batch)`` with ``batch`` a mapping:

  - ``"user_features"``: ``KeyedJaggedTensor`` whose keys are the schema's user features (in declaration
    order; :attr:`recplug_recsys.features.FeatureSpace.user_features`), batch size ``B``;
  - ``"item_features"``: ``KeyedJaggedTensor`` of the schema's item features
    (:attr:`~recplug_recsys.features.FeatureSpace.item_features`), batch size ``B``;
  - ``"item_ids"``: ``B`` int64 item ids (the positives; duplicates in a batch are masked as negatives);
  - ``"user_ids"``: ``B`` int64 user ids.

  returns a dict of tensors:

  - ``"query_embeddings"``: ``B x D``, user tower, L2-normalised;
  - ``"item_embeddings"``: ``B x D``, item tower, L2-normalised;
  - ``"user_pooled"``: ``B x F_u*E`` the user tables' pooled embeddings (before the MLP);
  - ``"item_pooled"``: ``B x F_i*E`` the item tables' pooled embeddings (before the MLP).

* ``model.item_tower(kjt) -> B x D`` and ``model.user_tower(kjt) -> B x D``: the towers on any KJT with
  the keys above (e.g. a masked or dropped-out view built by an SSL regularizer; a KJT may leave a
  multi-valued feature empty for a row, and may omit features only if it keeps the key with length 0).
* ``model.user_ebc`` / ``model.item_ebc``: the modules built by the configured embedding compressor
  (``compressor.build(tables)``), one table ``t_<feature>`` per feature; the trainer calls
  ``compressor.after_optimizer_step(module, step)`` on each after every optimizer step.
* ``model.user_tables`` / ``model.item_tables``: their :class:`recplug.protocols.TableSpec` lists.
* ``model.feature_space``: every item's features when set (``None`` by default; the trainer passes them to
  ``needs_item_features`` records as ``feature_space=`` instead). What regularizers read is the protocol
  :class:`recplug_recsys.protocols.TwoTowerLike` (``item_tower``, ``item_tables``, ``feature_space``,
  ``parameters``): check a model with ``isinstance(model, TwoTowerLike)``, never with ``hasattr``.

The main loss is :func:`in_batch_softmax_loss`; the trainer adds ``Σ reg.schedule(step) * Σ parts``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from recplug.errors import InvalidInputError
from recplug.protocols import EmbeddingCompressor, TableSpec
from torch import nn

from recplug_recsys.protocols import ItemFeatureSource


@dataclass(frozen=True)
class TowerConfig:
    """Shapes of both towers.

    Attributes:
        embedding_dim: ``E``, columns of every table.
        hidden: hidden layer widths of each tower's MLP.
        output_dim: ``D``, the tower output.
    """

    embedding_dim: int = 64
    hidden: tuple[int, ...] = (128,)
    output_dim: int = 64

    def __post_init__(self) -> None:
        from recplug.errors import ConfigError

        if self.embedding_dim <= 0 or self.output_dim <= 0 or any(h <= 0 for h in self.hidden):
            raise ConfigError(f"tower sizes must be positive, got {self}")
        object.__setattr__(self, "hidden", tuple(self.hidden))


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """``Linear -> ReLU`` for each hidden width, then a final ``Linear`` to ``out_dim``."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


@dataclass
class _TableIndex:
    """Feature name -> rows of its table, for checking KJTs before a lookup."""

    rows: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, tables: Sequence[TableSpec]) -> _TableIndex:
        return cls({f: t.num_embeddings for t in tables for f in t.feature_names})


class TwoTowerModel(nn.Module):
    """User tower and item tower over compressor-built embedding tables (see the module docstring).

    Args:
        user_tables: one :class:`TableSpec` per user feature.
        item_tables: one per item feature.
        compressor: builds ``user_ebc`` and ``item_ebc`` (``compressor.build(tables)``).
        config: tower shapes.
        validate: check feature names and id ranges of every KJT (cheap; off only for benchmarks).

    Example::

        >>> import torch
        >>> from recplug.builtins.dense_tables import DenseTables
        >>> from recplug.protocols import TableSpec
        >>> from torchrec import KeyedJaggedTensor
        >>> users = [TableSpec("t_user_id", 10, 4, ("user_id",))]
        >>> items = [TableSpec("t_item_id", 20, 4, ("item_id",)), TableSpec("t_genre", 5, 4, ("genre",))]
        >>> model = TwoTowerModel(users, items, DenseTables(), TowerConfig(embedding_dim=4, hidden=(8,), output_dim=3))
        >>> user_kjt = KeyedJaggedTensor.from_lengths_sync(  # B=2 users
        ...     keys=["user_id"], values=torch.tensor([1, 7]), lengths=torch.tensor([1, 1]))
        >>> item_kjt = KeyedJaggedTensor.from_lengths_sync(  # 2 items; the second has two genres
        ...     keys=["item_id", "genre"], values=torch.tensor([3, 9, 0, 2, 4]), lengths=torch.tensor([1, 1, 1, 2]))
        >>> out = model({"user_features": user_kjt, "item_features": item_kjt,
        ...              "item_ids": torch.tensor([3, 9]), "user_ids": torch.tensor([1, 7])})
        >>> out["query_embeddings"].shape, out["item_pooled"].shape  # B x D, B x F_i*E
        (torch.Size([2, 3]), torch.Size([2, 8]))
    """

    def __init__(
        self,
        user_tables: Sequence[TableSpec],
        item_tables: Sequence[TableSpec],
        compressor: EmbeddingCompressor,
        config: TowerConfig = TowerConfig(),
        validate: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.user_tables, self.item_tables = list(user_tables), list(item_tables)
        self.feature_space: ItemFeatureSource | None = None  # see TwoTowerLike
        self._user_index, self._item_index = _TableIndex.of(user_tables), _TableIndex.of(item_tables)
        self.validate = validate
        self.user_ebc = compressor.build(self.user_tables)
        self.item_ebc = compressor.build(self.item_tables)
        user_in = sum(t.embedding_dim * len(t.feature_names) for t in self.user_tables)
        item_in = sum(t.embedding_dim * len(t.feature_names) for t in self.item_tables)
        self.user_mlp = mlp(user_in, config.hidden, config.output_dim)
        self.item_mlp = mlp(item_in, config.hidden, config.output_dim)

    @staticmethod
    def check_features(kjt: Any, index: _TableIndex, tower: str) -> None:
        """Unknown or missing feature names, ids outside a table and empty batches are errors."""
        keys = list(kjt.keys())
        unknown = [k for k in keys if k not in index.rows]
        if unknown:
            raise InvalidInputError(
                f"{tower} tower: unknown feature(s) {unknown}; this model has {sorted(index.rows)}"
            )
        missing = [k for k in index.rows if k not in keys]
        if missing:
            raise InvalidInputError(f"{tower} tower: feature(s) {missing} missing from the batch")
        if kjt.stride() == 0:
            raise InvalidInputError(f"{tower} tower: empty batch (0 rows)")
        for key, jt in kjt.to_dict().items():
            values = jt.values()
            if values.numel() and (int(values.min()) < 0 or int(values.max()) >= index.rows[key]):
                raise InvalidInputError(
                    f"{tower} tower: feature {key!r} has ids {int(values.min())}..{int(values.max())}, "
                    f"outside its table [0, {index.rows[key]})"
                )

    def _pooled(self, ebc: nn.Module, kjt: Any, index: _TableIndex, tower: str) -> torch.Tensor:
        if self.validate:
            self.check_features(kjt, index, tower)
        keyed = ebc(kjt)
        # KeyedTensor in the order of the tables' features: B x sum(E)
        return torch.cat([keyed[f] for t in (self.user_tables if tower == "user" else self.item_tables)
                          for f in t.feature_names], dim=1)

    def user_tower(self, kjt: Any) -> torch.Tensor:
        """``B x D`` L2-normalised user embeddings of a user-feature KJT."""
        return nn.functional.normalize(self.user_mlp(self._pooled(self.user_ebc, kjt, self._user_index, "user")), dim=-1)

    def item_tower(self, kjt: Any) -> torch.Tensor:
        """``B x D`` L2-normalised item embeddings of an item-feature KJT."""
        return nn.functional.normalize(self.item_mlp(self._pooled(self.item_ebc, kjt, self._item_index, "item")), dim=-1)

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        user_pooled = self._pooled(self.user_ebc, batch["user_features"], self._user_index, "user")
        item_pooled = self._pooled(self.item_ebc, batch["item_features"], self._item_index, "item")
        return {
            "query_embeddings": nn.functional.normalize(self.user_mlp(user_pooled), dim=-1),
            "item_embeddings": nn.functional.normalize(self.item_mlp(item_pooled), dim=-1),
            "user_pooled": user_pooled,
            "item_pooled": item_pooled,
        }


def in_batch_softmax_loss(
    queries: torch.Tensor,
    items: torch.Tensor,
    item_ids: torch.Tensor,
    temperature: float = 0.05,
    log_q: torch.Tensor | None = None,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sampled softmax with in-batch negatives.

    Args:
        queries: ``B x D`` query embeddings.
        items: ``N x D`` candidate items (``N = B`` in one process; all ranks' items when gathered).
        item_ids: ``N`` item ids of the candidates.
        temperature: ``logits = queries @ items.T / temperature`` (B x N).
        log_q: ``N`` log sampling probabilities; the logits become ``logits - log_q[None, :]`` (the
            sampling-bias correction of Yi et al., 2019).
        positives: ``B`` column of each query's positive (default ``0..B-1``).

    Columns holding the same item as a row's positive (other than the positive's own column) are masked.
    Returns the mean cross-entropy over the ``B`` queries.
    """
    logits = queries @ items.T / temperature
    if log_q is not None:
        logits = logits - log_q[None, :]
    if positives is None:
        positives = torch.arange(queries.shape[0], device=logits.device)
    same = item_ids[positives][:, None] == item_ids[None, :]
    same[torch.arange(len(positives), device=logits.device), positives] = False
    logits = logits.masked_fill(same, torch.finfo(logits.dtype).min)
    return nn.functional.cross_entropy(logits, positives)
