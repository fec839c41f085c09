"""Bad configuration is a ConfigError that names the problem."""

from __future__ import annotations

import pytest
from recplug.errors import ConfigError
from recplug.manager import load_plugin_manager
from recplug.protocols import TableSpec

TINY = [TableSpec("t_tiny", 4, 8, ("tiny",))]


@pytest.mark.parametrize("name", ["dsl", "magnitude-prune", "hashing", "quotient-remainder", "multiplexed"])
@pytest.mark.parametrize("density", [0.0, -0.1, 1.5, float("nan")])
def test_density_outside_unit_interval(name: str, density: float) -> None:
    with pytest.raises(ConfigError, match="density"):
        load_plugin_manager().create("embedding_compressor", name, density=density)


@pytest.mark.parametrize("delta_t", [0, -3])
def test_delta_t_must_be_positive(delta_t: int) -> None:
    with pytest.raises(ConfigError, match="delta_t"):
        load_plugin_manager().create("embedding_compressor", "dsl", delta_t=delta_t)


@pytest.mark.parametrize(
    ("name", "density"),
    [("dsl", 0.01), ("magnitude-prune", 0.01), ("hashing", 0.1), ("quotient-remainder", 0.5), ("multiplexed", 0.1)],
)
def test_table_too_small_for_the_budget(name: str, density: float) -> None:
    compressor = load_plugin_manager().create("embedding_compressor", name, density=density, dense_below_rows=0)
    with pytest.raises(ConfigError, match="t_tiny"):
        compressor.build(TINY)


@pytest.mark.parametrize("name", ["dsl", "magnitude-prune", "hashing", "quotient-remainder", "multiplexed"])
def test_small_tables_stay_dense_by_default(name: str, tmp_path) -> None:
    compressor = load_plugin_manager().create("embedding_compressor", name, density=0.01)
    module = compressor.build(TINY)
    info = compressor.export(module, tmp_path / "tiny.pt")
    assert info.serving_bytes == 4 * 8 * 4
    with pytest.raises(ConfigError, match="dense_below_rows"):
        load_plugin_manager().create("embedding_compressor", name, dense_below_rows=-1)


def test_other_bad_values() -> None:
    pm = load_plugin_manager()
    with pytest.raises(ConfigError, match="grow"):
        pm.create("embedding_compressor", "dsl", grow="momentum")
    with pytest.raises(ConfigError, match="total_steps"):
        pm.create("embedding_compressor", "dsl", total_steps=0)
    with pytest.raises(ConfigError, match="mask_rows"):
        pm.create("embedding_compressor", "dsl", mask_rows="some")
    with pytest.raises(ConfigError, match="mode"):
        pm.create("embedding_compressor", "int8", mode="fp8")
    for name in ("dsl", "magnitude-prune"):
        with pytest.raises(ConfigError, match="value_bits"):
            pm.create("embedding_compressor", name, value_bits=16)
