"""Typed training configuration: dataclasses, read from TOML / JSON files and ``key=value`` overrides.

Example ``train.toml``::

    epochs = 30
    batch_size = 1024
    [data]
    dataset = "files"                 # or a folder, or a dataset component such as "ml-100k"
    interactions = "data/ratings.csv"
    items = "data/movies.csv"
    user_column = "userId"
    item_column = "movieId"
    timestamp_column = "timestamp"
    split = "recbole"
    [features.user_id]
    table = "users"
    kind = "id"
    [features.item_id]
    table = "items"
    kind = "id"
    [features.item_genres]
    table = "items"
    column = "genres"
    kind = "multi_categorical"
    delimiter = "|"
    [model]
    embedding_dim = 64
    temperature = 0.05
    [compressor]
    name = "dense"
    [[regularizers]]
    name = "embedding-norm"
    options = { weight = 1e-4 }

Command-line overrides use dotted keys: ``--set model.embedding_dim=32 --set epochs=3`` (values are
parsed as JSON when they can be, else kept as strings). Unknown keys are a :class:`ConfigError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recplug.checks import check_int, check_optional_int, check_real
from recplug.errors import ConfigError
from recplug_eval.metrics import measure_name, old_measure_name
from recplug_eval.recsys_metrics import MEASURES as SELECT_METRICS

SHARDING_TYPES = ("none", "data_parallel", "table_wise", "column_wise", "row_wise")


@dataclass
class DataConfig:
    """Which data and split.

    Attributes:
        dataset: a dataset component (``ml-100k``, ``ml-1m``, a plugin's), ``files`` (the files named below), or
            the path of a folder holding ``interactions.{csv,tsv,parquet}`` and optional ``users.*`` / ``items.*``.
        interactions, users, items: the user's own files (CSV or parquet; see
            :class:`recplug_eval.datasets.interaction_files.InteractionFiles`).
        user_column, item_column: id columns of those files.
        timestamp_column, rating_column, weight_column: optional interaction columns.
        split_column: a ``train`` / ``valid`` / ``test`` column (split ``column``).
        valid_interactions, test_interactions: the split as separate files (split ``files``).
        separator: CSV separator.
        min_rating: keep interactions with ``rating >= min_rating`` (``None``: all).
        unmatched_feature_rows: feature-table ids that no interaction names: ``error``, ``keep`` or ``drop``.
        options: keyword options of a plugin's dataset component.
        split: ``recbole`` / ``random`` (8:1:1 per user, RecBole's rule), ``loo`` (leave-one-out by time),
            ``temporal`` (one global time cut), ``column`` or ``files`` (taken from the data).
        split_ratios: train / valid / test shares of ``recbole`` and ``temporal``.
        split_seed: RecBole's seed.
        cache_dir: the dataset's cache folder (``None``: its default).
        max_users: keep only users with id < ``max_users`` (small slices for tests; ``None``: all).
        train_fraction: keep this share of the training interactions, drawn uniformly with
            ``train_fraction_seed`` (valid and test unchanged; the tail slice then follows the kept
            interactions): the data-sparsity experiments of Yao et al. 2021. ``1.0``: all.
        train_fraction_seed: seed of that draw (fixed, so that every model sees the same interactions).
    """

    dataset: str = "ml-100k"
    interactions: str | None = None
    users: str | None = None
    items: str | None = None
    user_column: str = "user_id"
    item_column: str = "item_id"
    timestamp_column: str | None = None
    rating_column: str | None = None
    weight_column: str | None = None
    split_column: str | None = None
    valid_interactions: str | None = None
    test_interactions: str | None = None
    separator: str = ","
    min_rating: float | None = None
    unmatched_feature_rows: str = "error"
    options: dict[str, Any] = field(default_factory=dict)
    split: str = "recbole"
    split_ratios: tuple[float, ...] = (0.8, 0.1, 0.1)
    split_seed: int = 2020
    cache_dir: str | None = None
    max_users: int | None = None
    train_fraction: float = 1.0
    train_fraction_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError(f"data.train_fraction must be in (0, 1], got {self.train_fraction!r}")
        if len(self.split_ratios) != 3 or any(r < 0 for r in self.split_ratios) or self.split_ratios[0] <= 0:
            raise ConfigError(f"data.split_ratios must be three shares (train > 0), got {list(self.split_ratios)}")
        check_optional_int(self.max_users, "data.max_users", low=1)
        check_int(self.split_seed, "data.split_seed", low=0)
        check_int(self.train_fraction_seed, "data.train_fraction_seed", low=0)
        if self.min_rating is not None and not math.isfinite(self.min_rating):
            raise ConfigError(f"data.min_rating must be a finite number, got {self.min_rating!r}")

    def file_options(self) -> dict[str, Any]:
        """The options of the ``files`` loader that are set (the columns, separator, split files, ...)."""
        names = ("users", "items", "user_column", "item_column", "timestamp_column", "rating_column",
                 "weight_column", "split_column", "valid_interactions", "test_interactions", "separator",
                 "min_rating", "unmatched_feature_rows")
        defaults = DataConfig()
        return {n: getattr(self, n) for n in names if getattr(self, n) != getattr(defaults, n)}


@dataclass
class ModelConfig:
    """Two-tower shapes and the main loss.

    Attributes:
        embedding_dim: columns of every table (``E``).
        hidden: MLP hidden widths of each tower.
        output_dim: tower output ``D``.
        temperature: softmax temperature.
        log_q: subtract the log sampling probability of in-batch items from the logits.
        log_q_weight: ``w`` in ``logits - w * log q`` (1.0: the correction of Yi et al. 2019; smaller values keep
            part of the popularity bias of in-batch negatives, larger ones over-correct it).
    """

    embedding_dim: int = 64
    hidden: tuple[int, ...] = (128,)
    output_dim: int = 64
    temperature: float = 0.05
    log_q: bool = False
    log_q_weight: float = 1.0

    def __post_init__(self) -> None:
        check_int(self.embedding_dim, "model.embedding_dim", low=1)
        for width in self.hidden:
            check_int(width, "model.hidden widths", low=1)
        check_int(self.output_dim, "model.output_dim", low=1)
        check_real(self.temperature, "model.temperature", low=0, low_open=True)
        if not 0.0 <= self.log_q_weight <= 4.0:
            raise ConfigError(f"model.log_q_weight must be in [0, 4], got {self.log_q_weight!r}")


@dataclass
class ComponentConfig:
    """A plugin component by name with its keyword options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Everything a training run needs (see the module docstring for the file format).

    Attributes:
        data: the dataset and split.
        features: the feature schema, ``{name: {table, kind, column, ...}}`` (see
            :mod:`recplug_recsys.schema`), laid over the dataset's shipped schema (a feature set to ``false``
            is dropped); none declared and none shipped: the user and item ids only.
        epochs: passes over the training interactions (the cap when ``patience`` is set).
        patience: early stopping: stop once this many epochs in a row have not raised the validation
            ``select_metric`` above its best (the best epoch's model is kept either way); ``None``: train all
            ``epochs``. ``metrics.json`` says how many epochs ran and whether the run stopped early.
        batch_size: global batch size ``B`` (split across ranks when sharded).
        lr, weight_decay: Adam settings of the dense (MLP) parameters.
        table_optimizer, table_lr: optimizer of the embedding tables (``adagrad``, ``sgd``; ``adam`` only
            unsharded or on CUDA: fbgemm's fused CPU kernels have no Adam).
        seed: model initialisation and data order.
        output_dir: checkpoints, ``history.json``/``.csv``, ``metrics.json``.
        eval_ks: cut-offs of the measures (``R``, ``nDCG``, ``RR``, ``Success``, ``P``; ir-measures' names).
        eval_users: score a fixed sample (seed 0) of this many users of each split (large data); ``None``: all.
        select_metric: validation metric that picks the best epoch (test metrics are for that epoch), an
            ir-measures name with an optional slice: ``RR@10``, ``R@20``, ``tail/nDCG@20``.
        eval_index: retrieval index component (e.g. ``{name = "faiss-flat"}``) that holds the item
            embeddings for evaluation (built with ``dimension=D, metric="ip"``); ``None``: torch matmul top-k.
        sharding: ``none`` or a torchrec sharding type for every table (needs torch.distributed).
        max_steps_per_epoch: cap on steps per epoch (``None``: a full pass).
        resume: continue from ``output_dir/checkpoint.pt`` when it exists.
        progress: show progress (a tqdm bar on a terminal, plain lines in a log; recplug_eval.progress).
    """

    data: DataConfig = field(default_factory=DataConfig)
    features: dict[str, Any] = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    compressor: ComponentConfig = field(default_factory=lambda: ComponentConfig("dense"))
    regularizers: list[ComponentConfig] = field(default_factory=list)
    epochs: int = 20
    patience: int | None = None
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    table_optimizer: str = "adagrad"
    table_lr: float = 0.05
    seed: int = 0
    output_dir: str = "runs/recsys"
    eval_ks: tuple[int, ...] = (10, 20, 50)
    eval_users: int | None = None
    select_metric: str = "RR@10"
    eval_index: ComponentConfig | None = None
    sharding: str = "none"
    max_steps_per_epoch: int | None = None
    resume: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.sharding not in SHARDING_TYPES:
            raise ConfigError(f"sharding must be one of {', '.join(SHARDING_TYPES)}, got {self.sharding!r}")
        check_int(self.epochs, "epochs", low=1)
        check_optional_int(self.patience, "patience", low=1)
        check_int(self.batch_size, "batch_size", low=2)  # in-batch negatives need another row
        check_real(self.lr, "lr", low=0, low_open=True)
        check_real(self.weight_decay, "weight_decay", low=0)
        check_real(self.table_lr, "table_lr", low=0, low_open=True)
        check_int(self.seed, "seed", low=0)
        check_optional_int(self.max_steps_per_epoch, "max_steps_per_epoch", low=1)
        new = old_measure_name(self.select_metric)
        if new is not None:
            raise ConfigError(f"select_metric {self.select_metric!r} is an old measure name; use {new!r}")
        with contextlib.suppress(ConfigError):  # an unknown name: the check below says what is allowed
            self.select_metric = measure_name(self.select_metric)  # ir-measures' spelling: "MRR@10" -> "RR@10"
        allowed = {measure_name(f"{prefix}{m}", k) for prefix in ("", "head/", "tail/") for m in SELECT_METRICS
                   for k in self.eval_ks}
        if self.select_metric not in allowed:
            raise ConfigError(f"select_metric must be [head/|tail/]<{'|'.join(SELECT_METRICS)}>@k with k in eval_ks "
                              f"{list(self.eval_ks)}, got {self.select_metric!r}")
        check_optional_int(self.eval_users, "eval_users", low=1)
        if not self.eval_ks or any(k <= 0 for k in self.eval_ks):
            raise ConfigError(f"eval_ks must be positive, got {self.eval_ks}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        return json.loads(json.dumps(asdict(self)))

    def run_identity(self) -> dict[str, Any]:
        """The settings a resumed run must share with its checkpoint (all but epochs/patience/resume/progress)."""
        out = self.to_dict()
        for key in ("epochs", "patience", "resume", "progress", "output_dir"):
            out.pop(key)
        return out


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        assert isinstance(tp, type)  # tp is a field's annotation: a dataclass type, never an instance
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_convert(typing.get_args(tp)[0], v, where) for v in value)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_convert(typing.get_args(tp)[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or (tp is int and value != int(value)):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return tp(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: Any, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types are :class:`ConfigError` s."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    return cls(**{k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()})


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted ``key=value`` pairs in a nested dict (copying it); values are read as ``recplug eval``'s
    ``--*-config key=value`` items are (:func:`recplug_eval.options.parse_value`)."""
    from recplug_eval.options import parse_value

    data = json.loads(json.dumps(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, text = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a table")
        node[parts[-1]] = parse_value(text)
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from a ``.toml`` / ``.json`` file (optional) and ``key=value`` overrides."""
    from recplug_eval.options import read_config_file

    data = read_config_file(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    return from_dict(TrainConfig, data)
