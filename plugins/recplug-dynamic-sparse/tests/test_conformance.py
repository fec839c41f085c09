"""Every compressor of this plugin passes the core's conformance kit, and resolves through the plugin manager."""

from __future__ import annotations

from typing import Any

import pytest
from recplug.manager import load_plugin_manager
from recplug.testing import CompressorConformance

NAMES = ("dsl", "magnitude-prune", "hashing", "quotient-remainder", "multiplexed", "int8", "int4")


@pytest.mark.parametrize("name", NAMES)
def test_entry_point_resolves_through_the_core(name: str) -> None:
    pm = load_plugin_manager()
    spec = pm.get("embedding_compressor", name)
    assert spec.capabilities.export and spec.capabilities.sharded and spec.capabilities.fused
    assert pm.create("embedding_compressor", name).name == name


class TestDSL(CompressorConformance):
    @pytest.fixture
    def compressor(self) -> Any:
        # ΔT = 1 so that the kit's 3 steps include prune/grow updates before the export round trip
        return load_plugin_manager().create("embedding_compressor", "dsl", density=0.3, delta_t=1, total_steps=10)


class TestMagnitudePrune(CompressorConformance):
    @pytest.fixture
    def compressor(self) -> Any:
        return load_plugin_manager().create("embedding_compressor", "magnitude-prune", density=0.3, prune_step=1)


class TestHashing(CompressorConformance):
    @pytest.fixture
    def compressor(self) -> Any:
        return load_plugin_manager().create("embedding_compressor", "hashing", density=0.25)


class TestQuotientRemainder(CompressorConformance):
    @pytest.fixture
    def compressor(self) -> Any:
        return load_plugin_manager().create("embedding_compressor", "quotient-remainder", density=0.5)


class TestMultiplexed(CompressorConformance):
    @pytest.fixture
    def compressor(self) -> Any:
        return load_plugin_manager().create("embedding_compressor", "multiplexed", density=0.25)

    @pytest.fixture
    def table_specs(self) -> list[Any]:  # two 16-dim tables share one table; the small genre table stays dense
        from recplug.protocols import TableSpec

        return [TableSpec("t_item", 200, 16, ("item_id",)), TableSpec("t_user", 150, 16, ("user_id",)),
                TableSpec("t_genre", 20, 8, ("genre",), pooling="sum")]


class TestMultiplexedListedGroups(CompressorConformance):
    @pytest.fixture
    def compressor(self) -> Any:  # the kit's default tables, both listed: a 200 x 16 and a 20 x 8 table cannot share
        return load_plugin_manager().create("embedding_compressor", "multiplexed", density=0.5, groups=[["item_id"]])


class TestInt8(CompressorConformance):
    @pytest.fixture
    def compressor(self) -> Any:
        return load_plugin_manager().create("embedding_compressor", "int8")


class TestInt4(CompressorConformance):
    @pytest.fixture
    def compressor(self) -> Any:
        return load_plugin_manager().create("embedding_compressor", "int4")
