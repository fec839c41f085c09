"""Property tests of every compressor of this plugin: any option value, any table shape (huge too) and any
valid batch either give a correct result or a RecplugError, never another exception or a hang (issue 30)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from recplug.errors import ConfigError, RecplugError
from recplug.manager import load_plugin_manager
from recplug.memory import ResourceError
from recplug.protocols import TableSpec
from recplug.testing.compressor_kit import random_kjt
from recplug.testing.strategies import ci_settings, garbage, outcome

pytest.importorskip("torchrec")

NAMES = ("dsl", "magnitude-prune", "hashing", "quotient-remainder", "multiplexed", "int8", "int4")

#: option name -> plausible values (garbage() adds the implausible ones)
PLAUSIBLE: dict[str, st.SearchStrategy] = {
    "density": st.floats(0, 1.2),
    "delta_t": st.integers(-2, 5),
    "total_steps": st.integers(-1, 20),
    "update_ratio": st.floats(-0.1, 1.1),
    "final_update_ratio": st.floats(-0.1, 1.1),
    "grow": st.sampled_from(["accumulated", "last", "momentum"]),
    "seed": st.integers(-(2**63), 2**63),
    "dense_below_rows": st.integers(-1, 300),
    "mask_rows": st.sampled_from(["touched", "all", "some"]),
    "device": st.sampled_from(["cpu", "meta", "cuda:9", "tpu"]),
    "init_std": st.one_of(st.none(), st.floats(0, 1)),
    "value_bits": st.sampled_from([8, 16, 32, 4]),
    "prune_step": st.one_of(st.none(), st.integers(-1, 3)),
    "mode": st.sampled_from(["low-precision", "post-training", "fp8"]),
    "groups": st.one_of(st.none(), st.sampled_from([[["item_id"]], [["item_id", "genre"]], [["genre", "genre2"]],
                                                    [["nope"]], [[]], "item_id"])),
}
OPTIONS = {
    "dsl": ("density", "delta_t", "total_steps", "update_ratio", "final_update_ratio", "grow", "seed",
            "dense_below_rows", "mask_rows", "device", "init_std", "value_bits"),
    "magnitude-prune": ("density", "prune_step", "dense_below_rows", "device", "init_std", "value_bits"),
    "hashing": ("density", "seed", "dense_below_rows", "device", "init_std"),
    "quotient-remainder": ("density", "seed", "dense_below_rows", "device", "init_std"),
    "multiplexed": ("density", "groups", "seed", "dense_below_rows", "device", "init_std"),
    "int8": ("mode", "seed", "device", "init_std"),
    "int4": ("mode", "seed", "device", "init_std"),
}
TABLES = [TableSpec("t_item", 120, 6, ("item_id",)), TableSpec("t_genre", 12, 4, ("genre", "genre2"), pooling="mean")]


@pytest.fixture(scope="module")
def pm():
    return load_plugin_manager()


@st.composite
def options_of(draw, name: str) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(OPTIONS[name]), unique=True, max_size=4))
    # mostly plausible values, so that a fair share of the examples builds and trains
    return {key: draw(st.one_of(PLAUSIBLE[key], PLAUSIBLE[key], PLAUSIBLE[key], garbage())) for key in chosen}


def train_and_check(compressor: Any, tables: list[TableSpec], steps: int = 2) -> Any:
    """Build, run a few SGD steps with after_optimizer_step, check the pooled output; returns the module."""
    module = compressor.build(tables)
    if any(p.device.type == "meta" for p in module.parameters()):
        return None  # lazy tables for sharded init: nothing to compute with until they are materialised
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.1)
    width = sum(t.embedding_dim * len(t.feature_names) for t in tables)
    for step in range(steps):
        out = module(random_kjt(tables, batch_size=4, seed=step)).values()
        assert out.shape == (4, width) and torch.isfinite(out).all()
        optimizer.zero_grad()
        out.pow(2).sum().backward()
        optimizer.step()
        stats = compressor.after_optimizer_step(module, step)
        assert isinstance(stats, dict) and all(isinstance(v, (int, float)) for v in stats.values())
    return module


@pytest.mark.parametrize("name", NAMES)
@ci_settings(max_examples=60)
@given(data=st.data())
def test_any_option_values(pm, name: str, tmp_path_factory, data) -> None:
    options = data.draw(options_of(name), label="options")
    made = outcome(lambda: pm.create("embedding_compressor", name, **options))
    event("refused at construction" if not made.ok else "constructed")
    if not made.ok:
        assert isinstance(made.error, ConfigError), made.error
        return
    compressor = made.value
    assert compressor.name == name
    built = outcome(lambda: train_and_check(compressor, TABLES))
    if not built.ok:
        assert isinstance(built.error, ConfigError), built.error
        return
    if built.value is None:
        assert options.get("device") == "meta"
        return
    event("trained and exported")
    path = tmp_path_factory.mktemp("export") / "tables.pt"
    info = compressor.export(built.value, path)
    assert info.serving_bytes > 0
    served = compressor.load_export(info.path, TABLES)
    kjt = random_kjt(TABLES, batch_size=3, seed=5)
    with torch.no_grad():
        expected = built.value(kjt).values()
        got = served(kjt).values()
    assert got.shape == expected.shape and torch.isfinite(got).all()
    # serving equals the trained model exactly unless the export itself approximates (int8 values, row-wise
    # quantization, or magnitude pruning that happens only at export)
    pruned_in_training = name == "dsl" or (name == "magnitude-prune" and compressor.prune_step in (0, 1))
    exact = name in ("hashing", "quotient-remainder", "multiplexed") or (pruned_in_training and compressor.value_bits == 32)
    if exact:
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@st.composite
def table_lists(draw) -> list[TableSpec]:
    small = st.integers(1, 300)
    huge = st.integers(2**40, 10**15)
    tables = []
    for i in range(draw(st.integers(1, 2))):
        rows = draw(st.one_of(small, small, huge))
        dim = draw(st.one_of(st.integers(1, 9), st.integers(1, 9), huge))
        tables.append(TableSpec(f"t{i}", rows, dim, (f"f{i}",), draw(st.sampled_from(["sum", "mean"]))))
    return tables


@pytest.mark.parametrize("name", NAMES)
@ci_settings(max_examples=25)
@given(tables=table_lists(), density=st.sampled_from([0.05, 0.3, 1.0]), below=st.sampled_from([0, 100]))
def test_any_table_shapes(pm, name: str, tables: list[TableSpec], density: float, below: int) -> None:
    options: dict[str, Any] = {}
    if name not in ("int8", "int4"):
        options = {"density": density, "dense_below_rows": below}
    compressor = pm.create("embedding_compressor", name, **options)
    huge = sum(t.num_embeddings * t.embedding_dim for t in tables) >= 2**40
    built = outcome(lambda: train_and_check(compressor, tables, steps=1), seconds=15)
    if built.ok:
        assert not huge, "a table of 2**40 weights or more was built"
        return
    assert isinstance(built.error, RecplugError)
    if huge:
        assert isinstance(built.error, (ResourceError, ConfigError)), built.error
    else:
        assert isinstance(built.error, ConfigError) and "too small" in str(built.error), built.error


@pytest.mark.parametrize("name", NAMES)
def test_unknown_and_fixed_options_are_config_errors(pm, name: str) -> None:
    with pytest.raises(ConfigError, match=r"densty|unknown"):
        pm.create("embedding_compressor", name, densty=0.5)
    if name in ("int8", "int4"):
        with pytest.raises(ConfigError, match="bits"):
            pm.create("embedding_compressor", name, bits=4)


@pytest.mark.parametrize("name", NAMES)
def test_bad_table_lists_are_config_errors(pm, name: str) -> None:
    compressor = pm.create("embedding_compressor", name)
    for tables in ([], "t_item", [object()], [TABLES[0], TABLES[0]], None):
        with pytest.raises(ConfigError):
            compressor.build(tables)


@pytest.mark.parametrize("name", NAMES)
@ci_settings(max_examples=20)
@given(ids=st.lists(st.one_of(st.integers(-5, 130), st.integers(-(2**62), 2**62)), max_size=6))
def test_serving_any_ids(pm, name: str, tmp_path_factory, ids: list[int]) -> None:
    """The exported serving module answers ids inside the table and refuses the others with an InvalidInputError."""
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    compressor = pm.create("embedding_compressor", name)
    module = compressor.build(TABLES)
    path = tmp_path_factory.mktemp("serve") / "tables.pt"
    served = compressor.load_export(compressor.export(module, path).path, TABLES)
    genre = [0, 1]
    kjt = KeyedJaggedTensor.from_lengths_sync(
        keys=["item_id", "genre", "genre2"],
        values=torch.tensor([*ids, *genre, *genre], dtype=torch.int64),
        lengths=torch.tensor([len(ids), 0, 1, 1, 1, 1], dtype=torch.int64),
    )
    result = outcome(lambda: served(kjt))
    inside = all(0 <= i < TABLES[0].num_embeddings for i in ids)
    if not inside:
        assert not result.ok and isinstance(result.error, RecplugError), "ids outside the table were answered"
        return
    assert result.ok, result.error
    out = result.value.values()
    assert out.shape == (2, 6 + 4 + 4) and torch.isfinite(out).all()
    assert torch.equal(out[1, :6], torch.zeros(6))  # an empty bag pools to zero
