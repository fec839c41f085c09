"""From a run's ``[data]`` and ``[features]`` to what training reads: the split and the fitted feature space.

:func:`open_dataset` picks the dataset (a component, the user's files, or a folder); :func:`declared_features`
lays the config's ``[features]`` over the dataset's shipped schema; :func:`load_run_data` splits, slices and
fits (or applies a saved :class:`~recplug_recsys.schema.FittedSchema`, never refitting it).

Defined behaviour of awkward data, as :func:`split_stats` counts it: items that occur only in valid / test have
ids and are ranked like every other item (their id row is untrained; their other features are not); users
without training rows are evaluated from their features; ids missing from a feature table get the
out-of-vocabulary row of every feature of that table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recplug.errors import ConfigError, UnknownComponentError
from recplug.protocols import InteractionDataset, check_protocol

from recplug_recsys.config import TrainConfig
from recplug_recsys.features import FeatureSpace
from recplug_recsys.schema import ID_ONLY, FeatureConfig, FittedSchema, parse_features

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    import torch


@dataclass
class RunData:
    """What training and evaluation read: the split as frames (``user_id``, ``item_id``, ...) and the features."""

    features: FeatureSpace
    train: pl.DataFrame
    valid: pl.DataFrame
    test: pl.DataFrame
    dataset: InteractionDataset

    @property
    def train_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        return (torch.from_numpy(self.train["user_id"].to_numpy().copy()),
                torch.from_numpy(self.train["item_id"].to_numpy().copy()))


def _is_folder(name: str, pm: Any) -> bool:
    """A path (a ``/`` or a leading ``.``), or a folder that is not also a dataset component's name."""
    if "/" in name or name.startswith("."):
        return True
    return name not in pm.components_of("dataset") and Path(name).is_dir()


def open_dataset(config: TrainConfig, pm: Any) -> Any:
    """The dataset of ``config.data``: ``files``, a folder, or a dataset component by name."""
    from recplug_eval.datasets.interaction_files import InteractionFiles

    d = config.data
    files = d.file_options()
    if d.dataset == "files":
        if d.interactions is None:
            raise ConfigError('data.dataset = "files" needs data.interactions = "<path of the interactions file>"')
        return InteractionFiles(d.interactions, **files)
    if d.interactions is not None:
        raise ConfigError(f'data.interactions is set: use data.dataset = "files", not {d.dataset!r}')
    if _is_folder(d.dataset, pm):
        if not Path(d.dataset).is_dir():
            raise ConfigError(f"data.dataset {d.dataset!r}: no such folder")
        return InteractionFiles.from_folder(d.dataset, **files)
    if files:
        raise ConfigError(f"data.{', data.'.join(sorted(files))} apply to your own files (data.dataset = \"files\" "
                          f"or a folder), not to the dataset component {d.dataset!r}; use data.options for its options")
    options = dict(d.options)
    if d.cache_dir:
        options["cache_dir"] = d.cache_dir
    try:
        spec = pm.get("dataset", d.dataset)
    except UnknownComponentError as exc:
        raise ConfigError(
            f"{exc} For your own data, set data.dataset to a folder with interactions.csv (or .parquet) and "
            "optional users / items tables, or to \"files\" with data.interactions = PATH; a dataset plugin "
            "must be installed (pip install) and register a recplug_datasets hook under the entry-point group "
            "\"recplug\" (see README, \"Bring your own data\")."
        ) from None
    if spec.kind != "interactions":
        raise ConfigError(f"dataset {d.dataset!r} is a {spec.kind} dataset (its record's kind); training needs an "
                          'interaction dataset (DatasetSpec kind="interactions")')
    try:
        dataset = spec.create(**options)
    except TypeError as exc:
        raise ConfigError(f"dataset {d.dataset!r}: bad options {sorted(options)} ({exc})") from None
    return check_protocol(dataset, InteractionDataset, f"dataset {d.dataset!r}")


def declared_features(config: TrainConfig, dataset: InteractionDataset) -> dict[str, FeatureConfig]:
    """The config's ``[features]`` laid over the dataset's shipped ones (``default_config()["features"]``; a
    dataset that ships no schema returns ``{}``)."""
    shipped = dict(dataset.default_config().get("features", {}))
    merged: dict[str, Any] = {name: dict(options) for name, options in shipped.items()}
    for name, options in config.features.items():
        if options is False:
            merged.pop(name, None)
        elif isinstance(options, dict):
            merged[name] = {**merged.get(name, {}), **options}
        else:
            raise ConfigError(f"features.{name}: expected a table of options or false (to drop it), got {options!r}")
    return parse_features(merged or ID_ONLY)


def load_run_data(config: TrainConfig, pm: Any, schema: FittedSchema | None = None) -> RunData:
    """Dataset -> split -> optional user slice and training subsample -> fitted (or given) feature space."""
    import polars as pl

    dataset = open_dataset(config, pm)
    declared = declared_features(config, dataset) if schema is None else None
    d = config.data
    options: dict[str, Any] = {"seed": d.split_seed}
    if tuple(d.split_ratios) != (0.8, 0.1, 0.1):  # a plugin's split() need not take ratios
        options["ratios"] = tuple(d.split_ratios)
    split = dataset.split(d.split, **options)
    parts = [split.train, split.valid, split.test]
    if d.max_users is not None:
        parts = [p.filter(pl.col("user_id") < d.max_users) for p in parts]
    if d.train_fraction < 1.0:
        parts[0] = parts[0].sample(fraction=d.train_fraction, seed=d.train_fraction_seed)
        if parts[0].height == 0:
            raise ConfigError(f"data.train_fraction={d.train_fraction} keeps no training interaction")
    users, items = dataset.users(), dataset.items()
    if schema is None:
        assert declared is not None
        schema = FittedSchema.fit(declared, users, items, config.model.embedding_dim)
    train, valid, test = parts
    return RunData(FeatureSpace(schema, users, items), train, valid, test, dataset=dataset)


def split_stats(data: RunData) -> dict[str, int]:
    """Rows per split and the awkward cases the module doc defines."""
    import polars as pl

    train_users = data.train["user_id"].unique()
    train_items = data.train["item_id"].unique()
    held_out = pl.concat([data.valid.select("user_id", "item_id"), data.test.select("user_id", "item_id")])
    return {
        "users": data.features.num_users, "items": data.features.num_items,
        "train_rows": data.train.height, "valid_rows": data.valid.height, "test_rows": data.test.height,
        "evaluated_users_without_training_rows": int(held_out.filter(~pl.col("user_id").is_in(train_users.implode()))
                                                     ["user_id"].n_unique()),
        "items_only_in_valid_or_test": int(held_out.filter(~pl.col("item_id").is_in(train_items.implode()))
                                           ["item_id"].n_unique()),
        "items_without_interactions": int(data.features.num_items - pl.concat(
            [data.train["item_id"], held_out["item_id"]]).n_unique()),
    }


def dataset_features(
    dataset: InteractionDataset, embedding_dim: int = 64, features: dict[str, Any] | None = None
) -> FeatureSpace:
    """The feature space of ``dataset`` under its shipped schema (with ``features`` laid over it), fitted on its
    users and items: what ``recplug train`` builds, for scripts and tests that hold a dataset object."""
    config = TrainConfig(features=dict(features or {}))
    declared = declared_features(config, dataset)
    return FeatureSpace.fit(declared, dataset.users(), dataset.items(), embedding_dim)
