"""Compact serving forms: exact sparse rows, bounded quantization error, real bytes, file checks."""

from __future__ import annotations

import pytest
import torch
from recplug.errors import IncompatibleFileError
from recplug.protocols import TableSpec
from recplug.testing.compressor_kit import random_kjt
from recplug_dynamic_sparse.dsl import DynamicSparseTables
from recplug_dynamic_sparse.magnitude import MagnitudePrunedTables
from recplug_dynamic_sparse.quantized import QuantizedTables
from recplug_dynamic_sparse.sparse_rows import QuantizedRows, SparseRows

TABLES = [TableSpec("t_item", 300, 32, ("item_id",)), TableSpec("t_genre", 18, 8, ("genre",), pooling="mean")]


@pytest.mark.parametrize(("density", "layout"), [(0.05, "csr"), (0.5, "bitmap")])
def test_sparse_rows_are_exact_in_both_layouts(density: float, layout: str) -> None:
    weight = torch.randn(40, 12)
    mask = torch.rand(40, 12) < density
    mask[3] = False  # an empty row
    rows = SparseRows.from_dense(weight, mask)
    assert rows.layout == layout
    ids = torch.tensor([3, 0, 39, 3, 17])
    torch.testing.assert_close(rows.rows(ids), (weight * mask)[ids], rtol=0, atol=0)
    torch.testing.assert_close(rows.dense(), weight * mask, rtol=0, atol=0)


@pytest.mark.parametrize(("density", "layout"), [(0.05, "csr"), (0.5, "bitmap")])
def test_int8_sparse_rows_keep_the_pattern_within_half_a_step(density: float, layout: str) -> None:
    weight = torch.randn(40, 12)
    weight[7] = 0.0  # a row whose active entries are all zero
    mask = torch.rand(40, 12) < density
    mask[3] = False  # an empty row
    exact = SparseRows.from_dense(weight, mask)
    rows = SparseRows.from_dense(weight, mask, value_bits=8)
    assert rows.layout == layout and rows.values.dtype == torch.int8
    assert rows.nbytes() == exact.nbytes() - 3 * exact.values.numel() + 2 * 40  # 1 byte a value + a float16 scale a row
    masked = weight * mask
    served = rows.dense()
    assert torch.equal(served != 0, (masked != 0) & (masked.abs() >= masked.abs().amax(1, keepdim=True) / 254))
    step = masked.abs().amax(1) / 127
    assert torch.all((served - masked).abs().amax(1) <= step * 0.5 * 1.002 + 1e-7)
    again = SparseRows.from_payload(rows.payload(), (40, 12))
    assert torch.equal(again.dense(), served) and again.value_bits == 8


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_rows_error_is_within_half_a_step(bits: int) -> None:
    weight = torch.randn(20, 10)
    rows = QuantizedRows.from_dense(weight, bits)
    step = (weight.max(1).values - weight.min(1).values) / (2**bits - 1)
    error = (rows.rows(torch.arange(20)) - weight).abs().max(1).values
    assert torch.all(error <= step * 0.5 + 2e-3)
    assert rows.nbytes() == 20 * (10 * bits // 8 + 4)


def _trained(compressor, steps: int = 4) -> torch.nn.Module:
    module = compressor.build(TABLES)
    optimizer = torch.optim.Adagrad(module.parameters(), lr=0.1)
    for step in range(steps):
        optimizer.zero_grad()
        module(random_kjt(TABLES, batch_size=32, seed=step)).values().sum().backward()
        optimizer.step()
        compressor.after_optimizer_step(module, step)
    return module


@pytest.mark.parametrize("density", [0.5, 0.2, 0.1])
def test_dsl_export_saves_real_bytes_and_serves_the_same_scores(density: float, tmp_path) -> None:
    compressor = DynamicSparseTables(dense_below_rows=0, density=density, delta_t=2, total_steps=10)
    module = _trained(compressor)
    info = compressor.export(module, tmp_path / "dsl.pt")
    dense = sum(t.num_embeddings * t.embedding_dim * 4 for t in TABLES)
    # values (4 bytes) + at most 1 byte of index per value + the row pointer
    nnz = sum(int(m.sum()) for m in compressor.masks.values())
    assert info.serving_bytes <= nnz * 5 + sum(4 * (t.num_embeddings + 1) for t in TABLES)
    assert info.serving_bytes < dense * min(1.0, density * 1.6)
    assert info.details["file_bytes"] < dense * min(1.0, density * 1.6) + 4096
    served = compressor.load_export(info.path, TABLES)
    assert served.nbytes() == info.serving_bytes
    kjt = random_kjt(TABLES, batch_size=64, seed=11)
    with torch.no_grad():
        torch.testing.assert_close(served(kjt).values(), module(kjt).values(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["dsl", "magnitude-prune"])
def test_int8_value_export_is_smaller_and_close(name: str, tmp_path) -> None:
    make = {"dsl": lambda **o: DynamicSparseTables(delta_t=2, total_steps=10, **o), "magnitude-prune": MagnitudePrunedTables}[name]
    module_exact, module_int8 = (make(density=0.2, dense_below_rows=0, value_bits=b) for b in (32, 8))
    module = _trained(module_exact)
    exact = module_exact.export(module, tmp_path / "exact.pt")
    module_int8.budgets, module_int8.masks = module_exact.budgets, module_exact.masks
    small = module_int8.export(module, tmp_path / "int8.pt")
    served = module_int8.load_export(small.path, TABLES)
    nnz = sum(source.values.numel() for source in served.sources.values())
    # 1 byte instead of 4 a value, plus a float16 scale a row
    assert small.serving_bytes == exact.serving_bytes - 3 * nnz + 2 * sum(t.num_embeddings for t in TABLES)
    assert small.serving_bytes < 0.6 * exact.serving_bytes
    kjt = random_kjt(TABLES, batch_size=64, seed=3)
    with torch.no_grad():
        want = module_exact.load_export(exact.path, TABLES)(kjt).values()  # magnitude pruning prunes at export
        got = served(kjt).values()
    assert not torch.equal(got, want)
    assert (got - want).abs().max() <= 0.01 * want.abs().max()


def test_export_into_other_dimension_or_compressor_is_an_error(tmp_path) -> None:
    compressor = DynamicSparseTables(dense_below_rows=0, density=0.2)
    info = compressor.export(compressor.build(TABLES), tmp_path / "dsl.pt")
    other = [TableSpec("t_item", 300, 16, ("item_id",)), TABLES[1]]
    with pytest.raises(IncompatibleFileError, match="t_item"):
        compressor.load_export(info.path, other)
    with pytest.raises(IncompatibleFileError, match="dsl"):
        MagnitudePrunedTables(density=0.2, dense_below_rows=0).load_export(info.path, TABLES)


def test_magnitude_prune_at_export_keeps_the_largest(tmp_path) -> None:
    compressor = MagnitudePrunedTables(density=0.1, dense_below_rows=0)
    module = _trained(compressor)
    weight = module.embedding_bags["t_item"].weight.detach()
    info = compressor.export(module, tmp_path / "mag.pt")
    served = compressor.load_export(info.path, TABLES).sources["t_item"].dense()
    kept = served != 0
    assert int(kept.sum()) == round(0.1 * weight.numel())
    assert weight[kept].abs().min() >= weight[~kept].abs().max()


def test_post_training_int8_is_close_and_low_precision_is_exact(tmp_path) -> None:
    kjt = random_kjt(TABLES, batch_size=16, seed=5)
    for mode, tol in (("post-training", 0.02), ("low-precision", 1e-5)):
        compressor = QuantizedTables(bits=8, mode=mode)
        module = _trained(compressor)
        info = compressor.export(module, tmp_path / f"{mode}.pt")
        assert info.serving_bytes == sum(t.num_embeddings * (t.embedding_dim + 4) for t in TABLES)
        served = compressor.load_export(info.path, TABLES)
        with torch.no_grad():
            torch.testing.assert_close(served(kjt).values(), module(kjt).values(), rtol=0, atol=tol)
