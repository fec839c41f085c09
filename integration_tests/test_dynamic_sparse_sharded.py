"""Dynamic Sparse Learning on tables sharded over 2 CPU processes (gloo, torchrun, fused Adagrad).

The test launches this file under ``torchrun --nproc_per_node 2``. Each process trains a small two-tower
pair of EmbeddingBagCollections wrapped in ``DistributedModelParallel`` with torchrec's fused optimizer
(no ``.grad``) for every sharding type that works on CPU, runs DSL with prune/grow updates, and checks:
the budget of every table is kept exactly, weights and the fused optimizer state are zero outside the
masks, the masks moved and are identical on both processes, and the export written from the sharded
tables serves the sharded model's scores. The hashing, quotient-remainder and int8 baselines are trained
table-wise sharded and served the same way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SHARDING_TYPES = ("table_wise", "column_wise", "data_parallel")
BASELINES = ("hashing", "quotient-remainder", "multiplexed", "int8")
STEPS = 9


def _tables():
    from recplug.protocols import TableSpec

    user = [TableSpec("t_user_id", 60, 16, ("user_id",))]
    item = [TableSpec("t_item_id", 80, 16, ("item_id",)), TableSpec("t_item_genres", 12, 16, ("item_genres",), "mean")]
    return user, item


def _batch(tables, rank: int, step: int, size: int = 16):
    from recplug.testing.compressor_kit import random_kjt

    return random_kjt(tables, batch_size=size, seed=1000 * step + rank)


def _run(sharding_type: str, out: Path) -> dict:
    import torch
    import torch.distributed as dist
    from recplug_dynamic_sparse.dsl import DynamicSparseTables
    from recplug_dynamic_sparse.live_tables import full_weight, live_tables
    from torchrec.distributed import DistributedModelParallel
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
    from torchrec.distributed.planner import EmbeddingShardingPlanner, ParameterConstraints, Topology
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

    rank = dist.get_rank()
    user_tables, item_tables = _tables()
    compressor = DynamicSparseTables(density=0.2, delta_t=3, total_steps=30, seed=0, dense_below_rows=0, device="meta")

    class Towers(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.user_ebc = compressor.build(user_tables)
            self.item_ebc = compressor.build(item_tables)

    model = Towers()
    initial = {name: mask.clone() for name, mask in compressor.masks.items()}
    apply_optimizer_in_backward(torch.optim.Adagrad, model.parameters(), {"lr": 0.2})
    constraints = {
        t.name: ParameterConstraints(sharding_types=[sharding_type], min_partition=8) for t in (*user_tables, *item_tables)
    }
    planner = EmbeddingShardingPlanner(topology=Topology(world_size=2, compute_device="cpu"), constraints=constraints)
    plan = planner.collective_plan(model, [EmbeddingBagCollectionSharder()], dist.GroupMember.WORLD)
    dmp = DistributedModelParallel(model, device=torch.device("cpu"), plan=plan)
    towers = dmp.module
    for ebc in (towers.user_ebc, towers.item_ebc):
        compressor.attach(ebc)
    dense_params = [p for n, p in dmp.named_parameters() if "embedding_bags" not in n]
    assert not dense_params  # every parameter is a table trained by the fused optimizer
    logs = []
    for step in range(STEPS):
        user = towers.user_ebc(_batch(user_tables, rank, step))
        item = towers.item_ebc(_batch(item_tables, rank, step))
        u, i = user.values(), item.values()
        loss = (u @ i[:, :16].T).pow(2).mean() + (i[:, 16:] - 0.5).pow(2).mean()
        loss.backward()
        for ebc in (towers.user_ebc, towers.item_ebc):
            logs.append(compressor.after_optimizer_step(ebc, step))
    report: dict = {"sharding_type": sharding_type, "updates": compressor.updates, "tables": {}}
    for ebc in (towers.user_ebc, towers.item_ebc):
        for name, table in live_tables(ebc).items():
            mask = compressor.masks[name]
            weight = full_weight(table)
            state_outside = sum(float(s[~mask[p.row_offset : p.row_offset + s.shape[0], p.col_offset : p.col_offset + s.shape[1]]].abs().sum())
                                for p in table.pieces for s in p.states if s.dim() == 2)
            report["tables"][name] = {
                "active": int(mask.sum()),
                "budget": compressor.config.active_weights(next(t for t in (*user_tables, *item_tables) if t.name == name)),
                "outside_abs_sum": float(weight[~mask].abs().sum()),
                "inside_nonzero": int((weight[mask] != 0).sum()),
                "fused_state_outside": state_outside,
                "fused_states": sum(len(p.states) for p in table.pieces),
                "pieces": [[p.row_offset, p.col_offset, *p.weight.shape] for p in table.pieces],
                "moved": not torch.equal(mask, initial[name]),
                "mask_sum_of_positions": int(mask.flatten().nonzero().sum()),
            }
    path = out / f"{sharding_type}.pt"
    info = compressor.export(towers.item_ebc, path)
    kjt = _batch(item_tables, rank, 99)
    with torch.no_grad():
        sharded_scores = towers.item_ebc(kjt).values()
    served = compressor.load_export(path, item_tables)
    with torch.no_grad():
        report["served_max_abs_diff"] = float((served(kjt).values() - sharded_scores).abs().max())
    report["serving_bytes"] = info.serving_bytes
    report["grad_backward_calls"] = compressor.probe.backward_calls
    return report


def _run_baseline(name: str, out: Path) -> dict:
    """A baseline compressor (hashing, quotient-remainder, multiplexed, int8) table-wise sharded: train, export,
    serve."""
    import torch
    import torch.distributed as dist
    from recplug.manager import load_plugin_manager
    from recplug.protocols import TableSpec
    from torchrec.distributed import DistributedModelParallel
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
    from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

    rank = dist.get_rank()
    _, item_tables = _tables()
    if name == "multiplexed":  # a second sum-pooled 16-dim table: it shares one table of 60 rows with t_item_id
        item_tables = [*item_tables, TableSpec("t_item_brand", 40, 16, ("item_brand",))]
    # the 12-row genres table stays dense (below dense_below_rows), the 80-row item table is compressed
    options = {"device": "meta"} if name == "int8" else {"density": 0.5, "dense_below_rows": 20, "device": "meta"}
    compressor = load_plugin_manager().create("embedding_compressor", name, **options)

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.item_ebc = compressor.build(item_tables)

    model = Tower()
    apply_optimizer_in_backward(torch.optim.Adagrad, model.parameters(), {"lr": 0.2})
    planner = EmbeddingShardingPlanner(topology=Topology(world_size=2, compute_device="cpu"))
    plan = planner.collective_plan(model, [EmbeddingBagCollectionSharder()], dist.GroupMember.WORLD)
    tower = DistributedModelParallel(model, device=torch.device("cpu"), plan=plan).module
    for step in range(4):
        tower.item_ebc(_batch(item_tables, rank, step)).values().pow(2).mean().backward()
        compressor.after_optimizer_step(tower.item_ebc, step)
    info = compressor.export(tower.item_ebc, out / f"{name}.pt")
    kjt = _batch(item_tables, rank, 99)
    with torch.no_grad():
        sharded_scores = tower.item_ebc(kjt).values()
        served = compressor.load_export(info.path, item_tables)(kjt).values()
    return {"sharding_type": f"{name}/table_wise", "served_max_abs_diff": float((served - sharded_scores).abs().max()),
            "serving_bytes": info.serving_bytes}


def worker(out: Path) -> None:
    """Entry point under torchrun: one report per process and sharding type."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    reports = [_run(st, out) for st in SHARDING_TYPES]
    reports += [_run_baseline(name, out) for name in BASELINES]
    (out / f"rank{dist.get_rank()}.json").write_text(json.dumps(reports))
    dist.destroy_process_group()


@pytest.mark.torchrun
@pytest.mark.slow
def test_dsl_sharded_on_two_processes(tmp_path: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", __file__, str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the workers too, not only torchrun
        stdout, stderr = process.communicate()
        pytest.fail(f"torchrun timed out: {stderr[-3000:]}")
    assert process.returncode == 0, stdout[-3000:] + stderr[-5000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rep in (*reports[0][len(SHARDING_TYPES):], *reports[1][len(SHARDING_TYPES):]):  # baselines, sharded
        assert rep["served_max_abs_diff"] < 1e-5, rep
        assert rep["serving_bytes"] > 0
    for r0, r1 in zip(reports[0][: len(SHARDING_TYPES)], reports[1][: len(SHARDING_TYPES)], strict=True):
        kind = r0["sharding_type"]
        assert r0["updates"] > 0, kind
        for name, t0 in r0["tables"].items():
            t1 = r1["tables"][name]
            assert t0["active"] == t0["budget"] == t1["active"], (kind, name)
            assert t0["outside_abs_sum"] == 0.0 and t1["outside_abs_sum"] == 0.0, (kind, name)
            assert t0["inside_nonzero"] > 0.5 * t0["active"], (kind, name)
            assert t0["moved"], (kind, name)
            # both processes hold the same masks
            assert t0["mask_sum_of_positions"] == t1["mask_sum_of_positions"], (kind, name)
            assert t0["fused_state_outside"] == 0.0 and t1["fused_state_outside"] == 0.0, (kind, name)
            if kind != "data_parallel":  # fused state lives next to the sharded tables
                assert t0["fused_states"] + t1["fused_states"] > 0, (kind, name)
        if kind == "column_wise":  # tables really are split by columns across the two processes
            pieces = [p for rep in (r0, r1) for p in rep["tables"]["t_item_id"]["pieces"]]
            assert sorted(p[1] for p in pieces) == [0, 8], pieces
        for rep in (r0, r1):
            assert rep["served_max_abs_diff"] < 1e-5, (kind, rep["served_max_abs_diff"])
            assert rep["grad_backward_calls"] > 0


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
