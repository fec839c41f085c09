"""What regularizers may read from the two-tower model and its features: small runtime-checkable protocols.

A regularizer record with ``needs_model`` gets the model being trained (``model=``), one with
``needs_item_features`` every item's features (``feature_space=``). These protocols say what those objects
offer, so a plugin calls members instead of probing for them; :class:`recplug_recsys.model.TwoTowerModel`
and :class:`recplug_recsys.features.FeatureSpace` keep them. Shapes: ``B`` items, ``D`` output dimension.

Importing this module imports neither torch nor torchrec.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from recplug.protocols import TableSpec


@runtime_checkable
class ItemFeatureSource(Protocol):
    """Every item's features.

    Attributes:
        num_items: item ids lie in ``[0, num_items)``.
    """

    num_items: int

    def item_kjt(self, item_ids: Any) -> Any:
        """The item-feature KeyedJaggedTensor of ``B`` item ids (keys: the item features)."""
        ...


@runtime_checkable
class TwoTowerLike(Protocol):
    """The slice of a two-tower model that regularizers read.

    Attributes:
        item_tables: the item tower's :class:`recplug.protocols.TableSpec` s (their ``feature_names`` are the
            item features the tower reads).
        feature_space: every item's features when the model carries them, else ``None`` (hosts then pass
            ``feature_space=`` to the regularizer factory).
    """

    item_tables: Sequence[TableSpec]
    feature_space: ItemFeatureSource | None

    def item_tower(self, kjt: Any) -> torch.Tensor:
        """``B x D`` item embeddings of an item-feature KJT."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """The model's parameters (``torch.nn.Module.parameters``): where they live tells the device."""
        ...
