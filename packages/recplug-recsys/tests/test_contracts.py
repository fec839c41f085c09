"""The trainer acts on typed records and protocols: a compressor's CompressorCapabilities, a dataset record's
kind, the InteractionDataset protocol; a component that keeps none of them is a one-line ConfigError."""

from __future__ import annotations

import pytest
from recplug import CompressorCapabilities, DatasetSpec, EmbeddingCompressorSpec, hookimpl, load_plugin_manager
from recplug.builtins.dense_tables import DenseTables
from recplug.errors import ConfigError
from recplug_recsys import ItemFeatureSource, TwoTowerLike
from recplug_recsys.trainer import Trainer


class UnshardableTables(DenseTables):
    name = "unshardable"
    capabilities = CompressorCapabilities(export=True)


class NotACompressor:
    name = "not-a-compressor"


class HalfDataset:
    """Interactions but no users / items / split / report."""

    name = "half"

    def interactions(self): ...


class Plugin:
    @hookimpl
    def recplug_embedding_compressors(self):
        return [
            EmbeddingCompressorSpec("unshardable", UnshardableTables, "test", UnshardableTables.capabilities),
            EmbeddingCompressorSpec("not-a-compressor", NotACompressor, "test"),
        ]

    @hookimpl
    def recplug_datasets(self):
        return [
            DatasetSpec("half", HalfDataset, "test", kind="interactions"),
            DatasetSpec("documents", HalfDataset, "test", kind="retrieval"),
        ]


@pytest.fixture(scope="module")
def pm():
    manager = load_plugin_manager()
    manager.register_plugin(Plugin(), "recsys-contract-fakes", "recplug-recsys-tests", "0")
    return manager


def test_sharding_needs_the_sharded_and_fused_flags(small_config, pm) -> None:
    with pytest.raises(ConfigError, match=r"compressor 'unshardable' lacks \['fused', 'sharded'\]: cannot be sharded"):
        Trainer(small_config("compressor.name=\"unshardable\"", 'sharding="row_wise"'), pm)


def test_a_component_that_is_not_a_compressor_is_one_line(small_config, pm) -> None:
    with pytest.raises(ConfigError, match=r"^compressor 'not-a-compressor' \(NotACompressor\) does not keep the "
                                          r"EmbeddingCompressor protocol: it lacks after_optimizer_step, attach_optimizer, build, capabilities, "
                                          r"export, load_export$"):
        Trainer(small_config('compressor.name="not-a-compressor"'), pm)


def test_datasets_are_checked_by_kind_then_by_protocol(small_config, pm) -> None:
    with pytest.raises(ConfigError, match=r"dataset 'documents' is a retrieval dataset \(its record's kind\)"):
        Trainer(small_config('data.dataset="documents"'), pm)
    with pytest.raises(ConfigError, match=r"dataset 'half' \(HalfDataset\) does not keep the InteractionDataset protocol: "
                                          r"it lacks "
                                          r"default_config, items, report, split, users$"):
        Trainer(small_config('data.dataset="half"'), pm)


def test_the_model_keeps_the_regularizer_protocols(small_config) -> None:
    trainer = Trainer(small_config())
    assert isinstance(trainer.model, TwoTowerLike) and trainer.model.feature_space is None
    assert isinstance(trainer.data.features, ItemFeatureSource)
