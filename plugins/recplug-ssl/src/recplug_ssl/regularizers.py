"""The regularizer components: SSL on the item tower (Yao et al. 2021) and spread-out (Zhang et al. 2017).

Both follow :class:`recplug.protocols.Regularizer`: ``reg(batch, outputs)`` returns unweighted named parts,
the trainer adds ``reg.schedule(step) * sum(parts)`` to the main loss, so ``L = L_main + α · L_ssl``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from recplug.errors import ConfigError, InvalidInputError

from recplug_ssl.config import SpreadOutConfig, SSLConfig
from recplug_ssl.feature_split import CorrelatedFeatureMasking, NoMasking, RandomFeatureMasking
from recplug_ssl.losses import global_orthogonal_regularization, info_nce, softmax_spread_out
from recplug_ssl.masking import check_features, complementary_views, stacked_views
from recplug_ssl.mutual_information import MutualInformation

if TYPE_CHECKING:  # pragma: no cover
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

ItemTower = Callable[["KeyedJaggedTensor"], torch.Tensor]
ItemLookup = Callable[[torch.Tensor], "KeyedJaggedTensor"]
Sampler = Callable[..., torch.Tensor]


class SSLRegularizer:
    """InfoNCE between two complementary masked views of a batch of items, encoded by the model's own
    (shared) item tower.

    Per call: ``B`` item ids from ``sampler`` -> their features (a KJT) -> split the features (RFM / CFM /
    none) -> two masked views with value dropout -> one item-tower call on the 2B stacked views ->
    ``{"infonce": L_ssl}``.

    Args:
        config: an :class:`SSLConfig`.
        item_tower: maps an item-feature KJT (B items) to B x D embeddings (the model's item tower).
        item_features: maps B item ids to their feature KJT.
        feature_names: the item features the model has (KJT keys).
        sampler: ``sampler() -> B item ids`` (uniform over the corpus, or from the click log).
        mutual_info: required for ``masking="correlated"``.
        multi_valued: features with bags longer than one (value dropout's default targets).
    """

    name = "ssl"
    requires: frozenset[str] = frozenset()

    def __init__(
        self,
        config: SSLConfig,
        *,
        item_tower: ItemTower,
        item_features: ItemLookup,
        feature_names: tuple[str, ...],
        sampler: Sampler,
        mutual_info: MutualInformation | None = None,
        multi_valued: tuple[str, ...] = (),
        device: torch.device | str | None = None,
        name: str | None = None,
    ) -> None:
        self.config = config
        self.device = None if device is None else torch.device(device)
        self.name = name or self.name
        self.schedule = config.schedule.build()
        self.item_tower, self.item_features, self.sampler = item_tower, item_features, sampler
        features = config.features if config.features is not None else tuple(feature_names)
        check_features(feature_names, features, f"{self.name}: masking config")
        dropout_features = config.dropout_features if config.dropout_features is not None else tuple(
            f for f in multi_valued if f in features
        )
        check_features(feature_names, dropout_features, f"{self.name}: value dropout config")
        check_features(feature_names, config.defaults, f"{self.name}: masking defaults")
        self.dropout_features = dropout_features
        if config.masking == "none":
            self.splitter: Any = NoMasking(features)
        elif config.masking == "random":
            self.splitter = RandomFeatureMasking(features)
        else:
            if mutual_info is None:
                raise ConfigError(f"{self.name}: correlated feature masking needs the features' mutual information")
            self.splitter = CorrelatedFeatureMasking(features, mutual_info, config.num_masked)

    def views(self, item_ids: torch.Tensor) -> tuple[KeyedJaggedTensor, KeyedJaggedTensor]:
        """The two augmented views (KJTs, B items each) of ``item_ids``."""
        kjt = self.item_features(item_ids)
        masked_a, masked_b = self.splitter.split()
        return complementary_views(
            kjt,
            masked_a,
            masked_b,
            defaults=self.config.defaults,
            dropout_features=self.dropout_features,
            dropout_rate=self.config.value_dropout,
        )

    def embed_views(self, item_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Item-tower embeddings of both views: two B x D tensors (one tower call on 2B items)."""
        masked_a, masked_b = self.splitter.split()
        views = stacked_views(
            self.item_features(item_ids),
            masked_a,
            masked_b,
            defaults=self.config.defaults,
            dropout_features=self.dropout_features,
            dropout_rate=self.config.value_dropout,
        )
        if self.device is not None and self.device.type != "cpu":
            views = views.to(self.device)
        stacked = self.item_tower(views)
        b = int(item_ids.numel())
        if stacked.dim() != 2 or stacked.shape[0] != 2 * b:
            raise InvalidInputError(f"{self.name}: the item tower must return {2 * b} x D embeddings, got {tuple(stacked.shape)}")
        return stacked[:b], stacked[b:]

    def __call__(self, batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        item_ids = self.sampler()
        z_a, z_b = self.embed_views(item_ids)
        return {"infonce": info_nce(z_a, z_b, self.config.temperature)}


class SpreadOutRegularizer:
    """Spread-out regularization of the batch's item embeddings ``outputs[key]`` (B x D).

    ``form="softmax"`` returns ``{"spread_out": 1/B Σ_i log Σ_j exp(cos(e_i, e_j)/τ) − 1/τ}``; ``form="gor"``
    returns ``{"gor": M1² + max(0, M2 − 1/D)}`` (Zhang et al. 2017).
    """

    name = "spread-out"

    def __init__(self, config: SpreadOutConfig, name: str | None = None) -> None:
        self.config = config
        self.name = name or self.name
        self.schedule = config.schedule.build()
        self.requires = frozenset({config.key})

    def __call__(self, batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        if self.config.key not in outputs:
            raise InvalidInputError(f"{self.name}: model outputs lack {self.config.key!r}; got {sorted(outputs)}")
        embeddings = outputs[self.config.key]
        if self.config.form == "gor":
            return {"gor": global_orthogonal_regularization(embeddings)}
        return {"spread_out": softmax_spread_out(embeddings, self.config.temperature)}
