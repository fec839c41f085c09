"""Factories behind the plugin's registry records: flat keyword options -> regularizer objects.

The first place torch is imported. The SSL factories need the model (record field ``needs_model``), a
:class:`recplug_recsys.TwoTowerLike`: its ``item_tower(kjt) -> B x D``, ``item_tables``
(:class:`recplug.protocols.TableSpec` s), ``feature_space`` and ``parameters()``. They also need every item's
features, to draw SSL items from the whole corpus: pass ``feature_space`` (a
:class:`recplug_recsys.ItemFeatureSource`: ``item_kjt(ids)`` and ``num_items``, e.g.
:class:`recplug_recsys.features.FeatureSpace`), or ``item_features`` (an ``ids -> KJT`` callable) with
``num_items``; the model's own ``feature_space`` is used when neither is given. ``train_item_ids``
(the item of every training interaction) weights the mutual information as the training data do and is
required for ``sampler="click_log"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

from recplug.checks import check_int
from recplug.errors import ConfigError, InvalidInputError
from recplug.memory import check_fits
from recplug.protocols import check_protocol
from recplug_recsys import ItemFeatureSource, TwoTowerLike

from recplug_ssl.config import ScheduleConfig, SpreadOutConfig, SSLConfig


def _schedule(weight: float, warmup: str, warmup_steps: int) -> ScheduleConfig:
    ScheduleConfig(weight, warmup, warmup_steps).build()  # validate now
    return ScheduleConfig(weight, warmup, warmup_steps)


def spread_out_factory(
    *,
    form: str = "softmax",
    temperature: float = 0.1,
    key: str = "item_embeddings",
    weight: float = 1.0,
    warmup: str = "constant",
    warmup_steps: int = 0,
    model: Any = None,
) -> Any:
    """Build a :class:`recplug_ssl.regularizers.SpreadOutRegularizer` (``model`` is accepted and unused)."""
    from recplug_ssl.regularizers import SpreadOutRegularizer

    spread_form = cast(Literal["softmax", "gor"], form)  # checked by SpreadOutConfig
    return SpreadOutRegularizer(SpreadOutConfig(spread_form, temperature, key, _schedule(weight, warmup, warmup_steps)))


def item_feature_frame(kjt: Any):  # -> pl.DataFrame
    """One row per item (the KJT's B items), one list column of integer ids per feature (KJT key)."""
    import polars as pl

    data = {}
    for key, jt in kjt.to_dict().items():
        values, offsets = jt.values().tolist(), jt.offsets().tolist()
        data[key] = [values[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    return pl.DataFrame(data, schema={key: pl.List(pl.Int64) for key in data})


def _item_ids(values: Any, name: str) -> Any:
    """``train_item_ids`` as a flat int64 array; anything else (strings, floats, ragged lists) is an input error."""
    import numpy as np

    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: train_item_ids must be a list of item ids ({exc})") from exc
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise InvalidInputError(f"{name}: train_item_ids must be integer item ids, got {array.dtype} values")
    return array.astype(np.int64).reshape(-1)


def _resolve_items(model: TwoTowerLike, feature_space: Any, item_features: Callable | None, num_items: int | None):
    """``(ids -> KJT lookup, number of items)`` from the arguments or the model's ``feature_space``."""
    if item_features is not None:
        if num_items is None:
            raise ConfigError("item_features given without num_items")
        if not callable(item_features):
            raise ConfigError(f"item_features must be a callable ids -> KeyedJaggedTensor, got {item_features!r}")
        return item_features, check_int(num_items, "num_items", low=2)
    space = feature_space if feature_space is not None else model.feature_space
    if space is None:
        raise ConfigError(
            "SSL regularizers draw their items from the whole item corpus and need its features: pass "
            "feature_space= (e.g. recplug_recsys.features.FeatureSpace) or item_features= with num_items= "
            "(a trainer does so for records with needs_item_features), or set model.feature_space"
        )
    check_protocol(space, ItemFeatureSource, "feature_space")
    return space.item_kjt, int(space.num_items)


def ssl_factory(
    *,
    model: Any = None,
    masking: str = "correlated",
    features: Sequence[str] | None = None,
    num_masked: int | None = None,
    defaults: Mapping[str, int | str] | None = None,
    value_dropout: float = 0.1,
    dropout_features: Sequence[str] | None = None,
    temperature: float = 0.1,
    batch_size: int = 256,
    sampler: str = "corpus",
    mutual_info_path: str | None = None,
    weight: float = 1.0,
    warmup: str = "constant",
    warmup_steps: int = 0,
    feature_space: Any = None,
    item_features: Callable | None = None,
    num_items: int | None = None,
    train_item_ids: Any = None,
    mutual_info: Any = None,
    name: str = "ssl",
) -> Any:
    """Build a :class:`recplug_ssl.regularizers.SSLRegularizer` on ``model`` 's item tower."""
    import numpy as np
    import torch

    from recplug_ssl.masking import check_features
    from recplug_ssl.mutual_information import MutualInformation, mutual_information
    from recplug_ssl.regularizers import SSLRegularizer
    from recplug_ssl.samplers import ClickLogItemSampler, UniformItemSampler

    config = SSLConfig(
        masking=masking,  # type: ignore[arg-type]
        features=features,  # type: ignore[arg-type]  # checked and made a tuple by SSLConfig
        num_masked=num_masked,
        defaults=defaults,  # type: ignore[arg-type]
        value_dropout=value_dropout,
        dropout_features=dropout_features,  # type: ignore[arg-type]
        temperature=temperature,
        batch_size=batch_size,
        sampler=sampler,  # type: ignore[arg-type]
        mutual_info_path=mutual_info_path,
        schedule=_schedule(weight, warmup, warmup_steps),
    )
    # InfoNCE holds B x B logits (and their softmax and gradient) per step
    check_fits(12 * config.batch_size**2, f"{name}: an SSL batch of {config.batch_size} items (B x B InfoNCE logits)")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{name!r}: name must be a non-empty string")
    if model is None:
        raise ConfigError(f"{name}: needs model= (a recplug_recsys.TwoTowerLike; record field needs_model)")
    check_protocol(model, TwoTowerLike, f"{name}: model=")
    tables = model.item_tables
    if not tables:
        raise ConfigError(f"{name}: the model exposes no item_tables to read its item features from")
    feature_names = tuple(f for t in tables for f in t.feature_names)
    lookup, n_items = _resolve_items(model, feature_space, item_features, num_items)
    log_ids = None if train_item_ids is None else _item_ids(train_item_ids, name)
    if log_ids is not None and log_ids.size and (log_ids.min() < 0 or log_ids.max() >= n_items):
        raise InvalidInputError(f"{name}: train_item_ids must lie in [0, {n_items}), got {log_ids.min()}..{log_ids.max()}")
    corpus = item_feature_frame(lookup(torch.arange(n_items)))
    multi_valued = tuple(f for f in feature_names if f in corpus.columns and corpus[f].list.len().max() > 1)
    split_features = config.features if config.features is not None else feature_names
    if config.masking == "correlated" and mutual_info is None:
        if config.mutual_info_path is not None:
            mutual_info = MutualInformation.load(config.mutual_info_path)
        else:
            check_features(tuple(corpus.columns), split_features, f"{name}: masking config")
            weights = None if log_ids is None else np.bincount(log_ids, minlength=n_items)[:n_items].astype(float)
            mutual_info = mutual_information(corpus, split_features, weights)
    if config.sampler == "click_log":
        if log_ids is None:
            raise ConfigError(f"{name}: sampler='click_log' needs train_item_ids (the training interactions' items)")
        item_sampler: Any = ClickLogItemSampler(log_ids, config.batch_size)
    else:
        item_sampler = UniformItemSampler(n_items, config.batch_size)
    return SSLRegularizer(
        config,
        item_tower=model.item_tower,
        item_features=lookup,
        feature_names=feature_names,
        sampler=item_sampler,
        mutual_info=mutual_info,
        multi_valued=multi_valued,
        device=next((p.device for p in model.parameters() if p.device.type != "meta"), None),
        name=name,
    )


def ssl_cfm_factory(**options: Any) -> Any:
    """SSL with Correlated Feature Masking (the paper's method)."""
    options.setdefault("name", "ssl-cfm")
    return ssl_factory(masking="correlated", **options)


def ssl_rfm_factory(**options: Any) -> Any:
    """SSL with Random Feature Masking."""
    options.setdefault("name", "ssl-rfm")
    return ssl_factory(masking="random", **options)
