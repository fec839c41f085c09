"""Property tests of the core's components: any option value and any input either gives a correct result or a
RecplugError, never another exception or a hang (issue 30, "Beyond the list")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from recplug.errors import ConfigError, InvalidInputError
from recplug.memory import ResourceError, available_bytes, check_fits, format_bytes
from recplug.protocols import TableSpec
from recplug.schedules import schedule_from_config
from recplug.testing.strategies import ci_settings, garbage, outcome

torch = pytest.importorskip("torch")

STEPS = (0, 1, 7, 10**6)


def weights() -> st.SearchStrategy:
    return st.one_of(st.floats(0, 10), garbage())


def warmups() -> st.SearchStrategy:
    return st.one_of(st.sampled_from(["constant", "linear", "quadratic"]), garbage())


def steps() -> st.SearchStrategy:
    return st.one_of(st.integers(0, 50), garbage())


# ---------------------------------------------------------------------------------------------- schedules
@ci_settings(max_examples=150)
@given(weight=weights(), warmup=warmups(), warmup_steps=steps())
def test_schedules_take_any_values(weight, warmup, warmup_steps) -> None:
    result = outcome(lambda: schedule_from_config(weight, warmup, warmup_steps))
    if not result.ok:
        assert isinstance(result.error, ConfigError)
        return
    for step in STEPS:
        value = result.value(step)
        assert isinstance(value, float) and math.isfinite(value) and 0 <= value <= float(weight) + 1e-12
    assert result.value(int(warmup_steps) + 10) == pytest.approx(float(weight))


# ---------------------------------------------------------------------------------------------- embedding-norm
@ci_settings(max_examples=120)
@given(
    keys=st.one_of(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=3).map(tuple), garbage()),
    weight=weights(),
    warmup=warmups(),
    warmup_steps=steps(),
)
def test_embedding_norm_takes_any_options(keys, weight, warmup, warmup_steps) -> None:
    from recplug.manager import load_plugin_manager

    pm = load_plugin_manager()
    result = outcome(
        lambda: pm.create("regularizer", "embedding-norm", keys=keys, weight=weight, warmup=warmup, warmup_steps=warmup_steps)
    )
    if not result.ok:
        return
    reg = result.value
    assert reg.requires and all(isinstance(k, str) and k for k in reg.requires)
    assert all(math.isfinite(reg.schedule(s)) and reg.schedule(s) >= 0 for s in STEPS)
    outputs = {k: torch.ones(3, 2) for k in reg.requires}
    parts = reg({}, outputs)
    assert set(parts) == set(reg.requires) and all(float(v) == pytest.approx(2.0) for v in parts.values())


DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.bool]
SPECIALS = [math.nan, math.inf, -math.inf, 0.0, 1e30, -1e-30]


@st.composite
def tensors(draw, min_dims: int = 0, max_dims: int = 4, max_side: int = 6):
    """Arbitrary tensors: any rank and shape (empty too), any dtype, some NaN/inf/huge entries."""
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=min_dims, max_size=max_dims)))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    values = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    flat = values.view(-1)
    if flat.numel() and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            flat[draw(st.integers(0, flat.numel() - 1))] = draw(st.sampled_from(SPECIALS))
    if dtype.is_floating_point:
        return values.to(dtype)
    return torch.nan_to_num(values, nan=0.0, posinf=5.0, neginf=-5.0).clamp(-1e6, 1e6).to(dtype)


def non_tensors() -> st.SearchStrategy:
    return st.one_of(garbage(), st.just(np.ones((3, 4), np.float32)), st.just([[1.0, 2.0]]))


@ci_settings(max_examples=150)
@given(value=st.one_of(tensors(), non_tensors()))
def test_embedding_norm_on_any_input(value) -> None:
    from recplug.builtins.norm_regularizer import EmbeddingNormPenalty

    reg = EmbeddingNormPenalty(keys=("e",))
    result = outcome(lambda: reg({}, {"e": value}))
    well_formed = (
        isinstance(value, torch.Tensor) and value.dtype.is_floating_point and value.dim() >= 1 and value.numel() > 0
    )
    if not result.ok:
        assert isinstance(result.error, InvalidInputError)
        assert not well_formed, f"a well-formed {tuple(value.shape)} {value.dtype} tensor was refused: {result.error}"
        return
    assert well_formed, f"accepted {type(value).__name__} {getattr(value, 'shape', '')} {getattr(value, 'dtype', '')}"
    part = result.value["e"]
    assert part.dim() == 0 and part.dtype == value.dtype
    expected = value.double().pow(2).sum(dim=-1).mean()
    if torch.isfinite(expected) and expected < torch.finfo(value.dtype).max / 2:
        torch.testing.assert_close(part.double(), expected, rtol=2e-2, atol=1e-6, equal_nan=True)
    else:
        assert not torch.isfinite(part)  # NaN / inf in, NaN / inf out: the trainer refuses such a loss


def test_embedding_norm_missing_output_is_an_input_error() -> None:
    from recplug.builtins.norm_regularizer import EmbeddingNormPenalty

    with pytest.raises(InvalidInputError, match="'e'"):
        EmbeddingNormPenalty(keys=("e",))({}, {"other": torch.ones(2, 2)})


# ---------------------------------------------------------------------------------------------- TableSpec
@ci_settings(max_examples=120)
@given(
    name=st.one_of(st.text(min_size=1, max_size=4), garbage()),
    rows=st.one_of(st.integers(1, 50), garbage()),
    dim=st.one_of(st.integers(1, 16), garbage()),
    features=st.one_of(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=2), garbage()),
    pooling=st.one_of(st.sampled_from(["sum", "mean"]), garbage()),
)
def test_table_spec_takes_any_values(name, rows, dim, features, pooling) -> None:
    result = outcome(lambda: TableSpec(name, rows, dim, features, pooling))
    if result.ok:
        spec = result.value
        assert isinstance(spec.name, str) and spec.name
        assert isinstance(spec.num_embeddings, int) and spec.num_embeddings > 0
        assert isinstance(spec.embedding_dim, int) and spec.embedding_dim > 0
        assert isinstance(spec.feature_names, tuple) and all(isinstance(f, str) and f for f in spec.feature_names)
        assert spec.pooling in ("sum", "mean")
        hash(spec)  # usable as a dict key (compressors group parts by their table)
    else:
        assert isinstance(result.error, ConfigError)


# ---------------------------------------------------------------------------------------------- dense tables
torchrec = pytest.importorskip("torchrec", reason="the dense tables need torchrec (see tools/env/setup.sh)")


@ci_settings(max_examples=60)
@given(device=st.one_of(st.sampled_from(["cpu", "meta", "cuda:7", "gpu", "cpu:0"]), garbage()),
       init_std=st.one_of(st.none(), st.floats(0, 2), garbage()))
def test_dense_tables_take_any_options(device, init_std) -> None:
    from recplug.manager import load_plugin_manager

    result = outcome(lambda: load_plugin_manager().create("embedding_compressor", "dense", device=device, init_std=init_std))
    if not result.ok:
        assert isinstance(result.error, ConfigError)
        return
    built = outcome(lambda: result.value.build([TableSpec("t", 7, 3, ("f",))]))
    if not built.ok:
        assert isinstance(built.error, ConfigError)
        return
    weight = built.value.embedding_bags["t"].weight
    assert tuple(weight.shape) == (7, 3)
    if weight.device.type == "cpu":
        assert torch.isfinite(weight).all()


@ci_settings(max_examples=30)
@given(
    size=st.one_of(
        st.tuples(st.integers(1, 10**4), st.integers(1, 64)),
        st.tuples(st.integers(2**40, 10**15), st.integers(1, 2**20)),
        st.tuples(st.integers(1, 10**4), st.integers(2**40, 10**15)),
    )
)
def test_dense_tables_refuse_huge_tables_up_front(size) -> None:
    rows, dim = size
    from recplug.builtins.dense_tables import DenseTables

    result = outcome(lambda: DenseTables().build([TableSpec("t", rows, dim, ("f",))]), seconds=10)
    if result.ok:
        assert tuple(result.value.embedding_bags["t"].weight.shape) == (rows, dim)
        assert rows * dim * 4 <= available_bytes()
    else:
        assert isinstance(result.error, ResourceError), result.error
        assert any(unit in str(result.error) for unit in ("GiB", "TiB", "PiB")), result.error


@st.composite
def tables_and_batches(draw):
    n_tables = draw(st.integers(1, 3))
    tables = [
        TableSpec(f"t{i}", draw(st.integers(1, 30)), draw(st.integers(1, 5)),
                  tuple(f"f{i}_{j}" for j in range(draw(st.integers(1, 2)))), draw(st.sampled_from(["sum", "mean"])))
        for i in range(n_tables)
    ]
    batch = draw(st.integers(1, 5))
    bags = {
        f: [draw(st.lists(st.integers(0, t.num_embeddings - 1), max_size=4)) for _ in range(batch)]
        for t in tables
        for f in t.feature_names
    }
    return tables, batch, bags


def kjt_of(bags: dict[str, list[list[int]]]):
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    keys = list(bags)
    values = [i for f in keys for bag in bags[f] for i in bag]
    lengths = [len(bag) for f in keys for bag in bags[f]]
    return KeyedJaggedTensor.from_lengths_sync(
        keys=keys, values=torch.tensor(values, dtype=torch.int64), lengths=torch.tensor(lengths, dtype=torch.int64)
    )


def pooled_reference(weights: dict[str, torch.Tensor], tables: list[TableSpec], bags) -> torch.Tensor:
    columns = []
    for t in tables:
        for f in t.feature_names:
            rows = []
            for bag in bags[f]:
                picked = weights[t.name][bag] if bag else torch.zeros(0, t.embedding_dim)
                pooled = picked.sum(0) if t.pooling == "sum" or not bag else picked.mean(0)
                rows.append(pooled)
            columns.append(torch.stack(rows))
    return torch.cat(columns, dim=1)


@ci_settings(max_examples=25)
@given(case=tables_and_batches())
def test_dense_tables_pool_any_valid_batch(case) -> None:
    from recplug.builtins.dense_tables import DenseTables, table_weights

    tables, batch, bags = case
    module = DenseTables(init_std=0.5).build(tables)
    out = module(kjt_of(bags))
    expected = pooled_reference({k: w.detach() for k, w in table_weights(module).items()}, tables, bags)
    assert out.values().shape == (batch, sum(t.embedding_dim * len(t.feature_names) for t in tables))
    torch.testing.assert_close(out.values().detach(), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------- memory helpers
@ci_settings(max_examples=80)
@given(nbytes=st.one_of(st.integers(0, 2**70), st.floats(0, 1e22)))
def test_format_bytes_is_short_and_readable(nbytes) -> None:
    text = format_bytes(nbytes)
    number, unit = text.split(" ")
    assert unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB") and float(number) >= 0 and len(text) <= 16


def test_check_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    assert available_bytes() > 0
    check_fits(1024, "a small thing")
    monkeypatch.setattr("recplug.memory.available_bytes", lambda: 8 * 2**30)
    with pytest.raises(ResourceError, match=r"^a huge thing need about 149\.0 GiB, only 8\.0 GiB is available$") as info:
        check_fits(149 * 2**30, "a huge thing")
    assert isinstance(info.value, MemoryError)
    assert format_bytes(149 * 2**30) == "149.0 GiB" and format_bytes(512) == "512 B"
