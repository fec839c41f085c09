"""Dynamic Sparse Learning: the prune/grow rule, the schedule, the fixed budget, fused tables."""

from __future__ import annotations

import math

import pytest
import torch
from recplug.protocols import TableSpec
from recplug.testing.compressor_kit import random_kjt
from recplug_dynamic_sparse.config import DSLConfig
from recplug_dynamic_sparse.dsl import DynamicSparseTables
from recplug_dynamic_sparse.grad_probe import GradientProbe
from recplug_dynamic_sparse.live_tables import live_tables
from recplug_dynamic_sparse.prune_grow import prune_and_grow, prune_count
from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

TABLES = [TableSpec("t_item", 50, 8, ("item_id",)), TableSpec("t_genre", 10, 4, ("genre",), pooling="mean")]


def test_prune_smallest_magnitude_grow_largest_gradient() -> None:
    weight = torch.tensor([[5.0, 0.1, 0.0, 0.0], [3.0, 0.2, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False, False], [True, True, False, False]])
    gradient = torch.tensor([[0.0, 0.0, 9.0, 0.5], [0.0, 0.0, -7.0, 0.1]])
    new_mask, stats = prune_and_grow(weight, mask, gradient, 2)
    expected = torch.tensor([[True, False, True, False], [True, False, True, False]])
    assert torch.equal(new_mask, expected)
    assert stats.pruned == 2 and stats.regrown_same == 0
    assert int(new_mask.sum()) == int(mask.sum())


def test_cosine_update_ratio_and_prune_count() -> None:
    config = DSLConfig(total_steps=100)
    assert config.update_ratio_at(0) == pytest.approx(0.5)
    assert config.update_ratio_at(50) == pytest.approx((0.5 + 0.005) / 2)
    assert config.update_ratio_at(100) == pytest.approx(0.005)
    assert config.update_ratio_at(10) > config.update_ratio_at(20) > config.update_ratio_at(90)
    assert prune_count(0.005, 300) == math.ceil(1.5)


def _train(compressor: DynamicSparseTables, steps: int, fused: bool) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    module = compressor.build(TABLES)
    if fused:  # torchrec's optimizer in backward: the tables never get .grad
        apply_optimizer_in_backward(torch.optim.Adagrad, module.parameters(), {"lr": 0.1})
        optimizer = None
    else:
        optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    logs = []
    for step in range(steps):
        out = module(random_kjt(TABLES, batch_size=16, seed=step)).values()
        loss = (out - 1.0).pow(2).sum()
        if optimizer is not None:
            optimizer.zero_grad()
        loss.backward()
        if optimizer is not None:
            optimizer.step()
        logs.append(compressor.after_optimizer_step(module, step))
    return module, logs


@pytest.mark.parametrize("fused", [False, True])
def test_budget_is_kept_and_masks_move(fused: bool) -> None:
    compressor = DynamicSparseTables(dense_below_rows=0, density=0.25, delta_t=3, total_steps=30, seed=1)
    module = compressor.build(TABLES)
    first = {n: m.clone() for n, m in compressor.masks.items()}
    module, logs = _train(compressor, 12, fused)
    for table in TABLES:
        mask = compressor.masks[table.name]
        assert int(mask.sum()) == round(0.25 * table.num_embeddings * table.embedding_dim)
        weight = dict(module.embedding_bags.named_parameters())[f"{table.name}.weight"].detach()
        assert torch.all(weight[~mask] == 0)
        assert not torch.equal(mask, first[table.name])  # prune/grow moved weights
    assert [bool("dsl/moved" in log) for log in logs] == [s % 3 == 2 for s in range(12)]
    assert logs[-1]["dsl/density"] == pytest.approx(0.25, abs=1e-3)
    if fused:
        assert all(p.grad is None for p in module.parameters())
        for name, table in live_tables(module).items():
            (state,) = table.pieces[0].states  # Adagrad's sum of squares, masked too
            assert torch.all(state[~compressor.masks[name]] == 0)
            assert state[compressor.masks[name]].abs().sum() > 0


def test_plain_optimizer_sees_no_gradient_outside_the_mask() -> None:
    compressor = DynamicSparseTables(dense_below_rows=0, density=0.25, delta_t=100, total_steps=300, seed=2)
    module = compressor.build(TABLES)
    module(random_kjt(TABLES, batch_size=16, seed=3)).values().pow(2).sum().backward()
    for name, param in module.embedding_bags.named_parameters():
        mask = compressor.masks[name.split(".")[0]]
        assert param.grad[mask].abs().sum() > 0
        assert torch.all(param.grad[~mask] == 0)


def test_grown_weights_start_at_zero() -> None:
    compressor = DynamicSparseTables(dense_below_rows=0, density=0.25, delta_t=2, total_steps=30, seed=3)
    module, _ = _train(compressor, 1, fused=False)
    before = {n: m.clone() for n, m in compressor.masks.items()}
    out = module(random_kjt(TABLES, batch_size=16, seed=1)).values()
    out.pow(2).sum().backward()
    compressor.after_optimizer_step(module, 1)  # an update step: no optimizer step in between
    for name, mask in compressor.masks.items():
        grown = mask & ~before[name]
        assert grown.any()
        weight = dict(module.embedding_bags.named_parameters())[f"{name}.weight"].detach()
        assert torch.all(weight[grown] == 0)


@pytest.mark.parametrize("deferred", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_probe_equals_autograd(weighted: bool, deferred: bool) -> None:
    compressor = DynamicSparseTables(dense_below_rows=0, density=1.0)
    module = compressor.build(TABLES)
    probe = GradientProbe({t.name: (t.num_embeddings, t.embedding_dim) for t in TABLES}, deferred=deferred)
    probe.attach(module)
    kjt = random_kjt(TABLES, batch_size=7, seed=4)
    if weighted:
        from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

        kjt = KeyedJaggedTensor.from_lengths_sync(keys=kjt.keys(), values=kjt.values(), lengths=kjt.lengths(), weights=torch.rand(kjt.values().numel()))
        module = compressor.build([TableSpec(t.name, t.num_embeddings, t.embedding_dim, t.feature_names, "sum") for t in TABLES])
        module = _weighted(module)
        probe = GradientProbe({t.name: (t.num_embeddings, t.embedding_dim) for t in TABLES}, deferred=deferred)
        probe.attach(module)
    target = torch.randn(7, sum(t.embedding_dim for t in TABLES))
    (module(kjt).values() * target).sum().backward()
    gradients = probe.reduced([t.name for t in TABLES])
    for name, param in module.embedding_bags.named_parameters():
        table = name.split(".")[0]
        torch.testing.assert_close(gradients[table], param.grad)


def test_gradient_probe_frees_each_steps_lookup() -> None:
    """The probe's hook must not keep the lookup output (and with it the batch) alive after backward: a
    reference cycle through autograd's hooks once kept every step's batch, ~1 MB a step on ML-100K."""
    import gc
    import weakref

    compressor = DynamicSparseTables(dense_below_rows=0, density=1.0)
    module = compressor.build(TABLES)
    probe = GradientProbe({t.name: (t.num_embeddings, t.embedding_dim) for t in TABLES})
    probe.attach(module)
    outputs, batches = [], []
    for step in range(3):
        kjt = random_kjt(TABLES, batch_size=16, seed=step)
        out = module(kjt)
        out.values().sum().backward()
        outputs.append(weakref.ref(out))
        batches.append(weakref.ref(kjt))
        del out, kjt
    gc.collect()
    assert probe.backward_calls == 3
    assert all(ref() is None for ref in outputs + batches)


def _weighted(module: torch.nn.Module) -> torch.nn.Module:
    import torchrec

    configs = module.embedding_bag_configs()
    weighted = torchrec.EmbeddingBagCollection(tables=configs, is_weighted=True)
    weighted.load_state_dict(module.state_dict())
    return weighted


def test_last_batch_and_accumulated_growth_differ() -> None:
    masks = {}
    for grow in ("last", "accumulated"):
        compressor = DynamicSparseTables(dense_below_rows=0, density=0.25, delta_t=4, total_steps=30, seed=5, grow=grow)
        _train(compressor, 4, fused=False)
        masks[grow] = compressor.masks["t_item"]
    assert not torch.equal(masks["last"], masks["accumulated"])


def test_same_seed_same_masks_other_seed_other_masks() -> None:
    a, b, c = (DynamicSparseTables(dense_below_rows=0, density=0.3, seed=s) for s in (0, 0, 1))
    for comp in (a, b, c):
        comp.build(TABLES)
    assert torch.equal(a.masks["t_item"], b.masks["t_item"])
    assert not torch.equal(a.masks["t_item"], c.masks["t_item"])


def test_two_modules_fused_both_stay_masked() -> None:
    """Like the two towers: one compressor, two collections, after_optimizer_step on each."""
    compressor = DynamicSparseTables(dense_below_rows=0, density=0.25, delta_t=50, total_steps=100, seed=6)
    user, item = compressor.build(TABLES[:1]), compressor.build(TABLES[1:])
    for module in (user, item):
        apply_optimizer_in_backward(torch.optim.Adagrad, module.parameters(), {"lr": 0.5})
    for step in range(3):
        u = user(random_kjt(TABLES[:1], batch_size=8, seed=step)).values()
        i = item(random_kjt(TABLES[1:], batch_size=8, seed=step)).values()
        ((u[:, :4] - i).pow(2).sum() + u.sum()).backward()
        compressor.after_optimizer_step(user, step)
        # the user tower's step must not forget the rows the item tower looked up
        assert compressor.probe.rows_seen("t_genre") is not None
        compressor.after_optimizer_step(item, step)
        assert compressor.probe.rows_seen("t_genre") is None
    for module in (user, item):
        for name, param in module.embedding_bags.named_parameters():
            mask = compressor.masks[name.split(".")[0]]
            assert torch.all(param.detach()[~mask] == 0), name
            assert param.detach()[mask].abs().sum() > 0, name


@pytest.mark.parametrize("fused", [False, True])
def test_masking_touched_rows_equals_masking_all_rows(fused: bool) -> None:
    results = []
    for mask_rows in ("touched", "all"):
        torch.manual_seed(0)
        compressor = DynamicSparseTables(dense_below_rows=0, density=0.25, delta_t=3, total_steps=30, seed=4, mask_rows=mask_rows)
        module, _ = _train(compressor, 8, fused)
        results.append((compressor.masks, {n: p.detach().clone() for n, p in module.named_parameters()}))
    (masks_a, weights_a), (masks_b, weights_b) = results
    for name in masks_a:
        assert torch.equal(masks_a[name], masks_b[name])
    for name in weights_a:
        torch.testing.assert_close(weights_a[name], weights_b[name], rtol=0, atol=0)
