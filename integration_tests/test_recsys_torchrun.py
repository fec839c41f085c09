"""Two processes (torchrun, gloo, CPU) train the sharded two-tower model like one process does.

Both runs use the same config on a generated shop dataset read from CSV files with a declared feature schema
that MovieLens does not have (brand, ``|``-delimited tags, description text, price buckets, country, age with
nulls; :mod:`recplug_eval.datasets.generated`), 2 epochs x 8 steps of 128. The
2-process run is ``sharding=table_wise``: each rank takes half of every global batch and the in-batch
softmax gathers all ranks' items, so its loss and metrics follow the 1-process (unsharded) run.
Tolerance: epoch-mean loss within 1% relative; test R@10 / nDCG@10 / RR@10 within 0.02 absolute
(float summation order and fbgemm's fused Adagrad vs ``torch.optim.Adagrad`` are the only differences).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.torchrun, pytest.mark.slow]

SETTINGS = [
    "model.embedding_dim=16", "model.hidden=[32]", "model.output_dim=16",
    "batch_size=128", "max_steps_per_epoch=8", "epochs=2", "progress=false", "eval_ks=[10,20]",
]


def _recplug(*args: str, nproc: int = 0, env: dict | None = None) -> subprocess.CompletedProcess:
    recplug = str(Path(sys.executable).with_name("recplug"))
    if nproc:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "--no-python", recplug, *args]
    else:
        cmd = [recplug, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)


def test_two_processes_match_one(tmp_path: Path) -> None:
    from recplug_eval.datasets.generated import ShopSpec, shop_overrides, write_shop

    folder = write_shop(tmp_path / "shop", ShopSpec(num_users=300, num_items=200, num_interactions=9000))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sets = [a for s in [*SETTINGS, *shop_overrides(folder)] for a in ("--set", s)]
    one = _recplug("train", *sets, "--output-dir", str(tmp_path / "one"), env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _recplug("train", *sets, "--set", "sharding=table_wise", "--output-dir", str(tmp_path / "two"),
                   nproc=2, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    a = json.loads((tmp_path / "one" / "metrics.json").read_text())
    b = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert a["world_size"] == 1 and b["world_size"] == 2
    ha = json.loads((tmp_path / "one" / "history.json").read_text())
    hb = json.loads((tmp_path / "two" / "history.json").read_text())
    for ra, rb in zip(ha, hb, strict=True):
        assert rb["loss/main"] == pytest.approx(ra["loss/main"], rel=0.01)
    for key in ("R@10", "nDCG@10", "RR@10"):
        assert b["test"][key] == pytest.approx(a["test"][key], abs=0.02), key
    assert "R@10" in two.stdout  # rank 0 printed the table
    assert "t_description" in json.dumps(a["config"]) or "description" in a["config"]["features"]
