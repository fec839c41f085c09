"""The schema-driven pipeline at scale, and against the hand-written MovieLens features it replaced.

Sections (sub-commands; results merge into ``results.json`` / ``results.md``):

* ``large``: a *generated* shop dataset (:mod:`recplug_eval.datasets.generated`; labelled as such) with about
  10M interactions, 1M users and 1M items and a few features each (country, age; brand, tags, description,
  price), written once as parquet, then loaded, split, fitted and trained by the same code ``recplug train``
  runs (``Trainer``), for a capped number of steps; evaluation scores a fixed sample of users against all 1M
  items. Reports wall time per stage, peak resident memory (``ru_maxrss`` of this process) and examples/s.
* ``features``: training examples/s of the same two-tower on ML-1M with the schema-built ``FeatureSpace`` and with
  the hand-written MovieLens ``FeatureSpace`` of commit ``94bf648`` (read from git history: the code this
  schema replaced); both build identical KJTs; steps alternate in rounds so both see the same machine load.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_scale.py large
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_scale.py features
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
LEGACY_COMMIT = "94bf648"
LEGACY_PATH = "packages/recplug-recsys/src/recplug_recsys/features.py"


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_large(args: argparse.Namespace) -> None:
    import polars as pl
    from bench_recsys import _load, _save, cpu_model
    from recplug_eval.datasets.generated import ShopSpec, shop_overrides, write_shop
    from recplug_recsys.config import load_config
    from recplug_recsys.trainer import Trainer

    folder = Path(args.folder)
    spec = ShopSpec(num_users=args.users, num_items=args.items, num_interactions=args.interactions, clusters=64)
    stages: dict[str, float] = {}
    start = time.perf_counter()
    if not (folder / "interactions.parquet").exists():
        write_shop(folder, spec, fmt="parquet")
    stages["generate_s"] = time.perf_counter() - start
    rows = pl.scan_parquet(folder / "interactions.parquet").select(pl.len()).collect().item()
    settings = ["model.embedding_dim=32", "model.hidden=[64]", "model.output_dim=32", "batch_size=4096",
                f"max_steps_per_epoch={args.steps}", "epochs=1", "progress=false", "eval_ks=[20]", "select_metric=R@20",
                f"eval_users={args.eval_users}", "resume=false", "model.log_q=true"]
    config = load_config(None, [*shop_overrides(folder), *settings, f'output_dir="{args.out}"'])
    generated_rss = peak_rss_gib()
    start = time.perf_counter()
    trainer = Trainer(config)  # load, split, fit the schema, build the model
    stages["load_split_fit_build_s"] = time.perf_counter() - start
    load_rss = peak_rss_gib()
    start = time.perf_counter()
    result = trainer.fit()
    stages["train_and_evaluate_s"] = time.perf_counter() - start
    history = trainer.history[-1]
    data = _load().get("scale", {})
    data["large"] = {
        "dataset": "generated shop data (recplug_eval.datasets.generated, clusters=64), parquet",
        "interactions": rows, "users": trainer.data.features.num_users, "items": trainer.data.features.num_items,
        "train_rows": trainer.data.train.height,
        "tables": {t.name: t.num_embeddings for t in (*trainer.inner.user_tables, *trainer.inner.item_tables)},
        "steps": history["step"], "batch_size": config.batch_size,
        "examples_per_second": history["examples_per_second"],
        "peak_rss_gib": peak_rss_gib(), "peak_rss_after_generation_gib": generated_rss,
        "peak_rss_after_loading_gib": load_rss, **stages,
        "test": {k: v for k, v in result["test"].items() if not k.startswith(("Success", "P@"))},
        "eval_users": args.eval_users, "settings": settings,
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} nice -n 10 .venv/bin/python "
                   f"tools/bench/recsys/bench_scale.py large --users {args.users} --items {args.items} "
                   f"--interactions {args.interactions} --steps {args.steps} --eval-users {args.eval_users}",
        "cpu": cpu_model(),
    }
    _save("scale", data)
    print(data["large"])


def _legacy_features() -> Any:
    """The hand-written MovieLens ``FeatureSpace`` module of :data:`LEGACY_COMMIT`, from git history."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{LEGACY_COMMIT}:{LEGACY_PATH}"], capture_output=True,
                          text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "legacy_features.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("legacy_features", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["legacy_features"] = module
    spec.loader.exec_module(module)
    return module


def run_features(args: argparse.Namespace) -> None:
    import numpy as np
    import torch
    from bench_recsys import QUALITY_SETTINGS, _load, _save, cpu_model
    from recplug_recsys.config import load_config
    from recplug_recsys.trainer import Trainer

    torch.set_num_threads(1)
    legacy = _legacy_features()
    overrides = [*QUALITY_SETTINGS, f"data.dataset={args.dataset}", "resume=false", "epochs=1",
                 f'output_dir="{tempfile.mkdtemp()}"']
    trainers = {"schema": Trainer(load_config(None, overrides)), "hand-written": Trainer(load_config(None, overrides))}
    data = trainers["schema"].data
    trainers["hand-written"].data.features = legacy.FeatureSpace(data.dataset.users(), data.dataset.items())
    users, items = data.train_pairs
    order = torch.randperm(len(users), generator=torch.Generator().manual_seed(0))
    b = trainers["schema"].config.batch_size
    seconds = {name: 0.0 for name in trainers}
    losses: dict[str, list[float]] = {name: [] for name in trainers}
    for r in range(args.rounds):
        for name, trainer in (trainers.items() if r % 2 == 0 else reversed(trainers.items())):
            start = time.perf_counter()
            for s in range(args.steps):
                rows = order[(r * args.steps + s) * b:(r * args.steps + s + 1) * b]
                losses[name].append(trainer.train_step(users[rows], items[rows])["loss/total"])
            seconds[name] += time.perf_counter() - start
    examples = args.rounds * args.steps * b
    result = {name: {"examples_per_second": examples / seconds[name], "seconds": seconds[name]} for name in trainers}
    result["ratio_schema_over_hand_written"] = result["schema"]["examples_per_second"] / \
        result["hand-written"]["examples_per_second"]
    result["max_loss_difference"] = float(np.max(np.abs(np.subtract(losses["schema"], losses["hand-written"]))))
    result["settings"] = {"dataset": args.dataset, "steps_per_round": args.steps, "rounds": args.rounds,
                          "batch_size": b, "legacy": f"{LEGACY_COMMIT}:{LEGACY_PATH}",
                          "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} nice -n 10 "
                                     f".venv/bin/python tools/bench/recsys/bench_scale.py features --dataset "
                                     f"{args.dataset} --steps {args.steps} --rounds {args.rounds}",
                          "cpu": cpu_model()}
    data_out = _load().get("scale", {})
    data_out["features"] = result
    _save("scale", data_out)
    print(result)


def main() -> None:
    from bench_recsys import add_results_dir_argument, use_results_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_results_dir_argument(parser)
    sub = parser.add_subparsers(dest="section", required=True)
    large = sub.add_parser("large")
    large.add_argument("--users", type=int, default=1_000_000)
    large.add_argument("--items", type=int, default=1_000_000)
    large.add_argument("--interactions", type=int, default=10_500_000)
    large.add_argument("--steps", type=int, default=200)
    large.add_argument("--eval-users", type=int, default=2000)
    large.add_argument("--folder", default=str(Path(tempfile.gettempdir()) / "recplug-shop-10m"))
    large.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "recplug-shop-10m-run"))
    features = sub.add_parser("features")
    features.add_argument("--dataset", default="ml-1m")
    features.add_argument("--steps", type=int, default=12)
    features.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    use_results_dir(args.results_dir)
    {"large": run_large, "features": run_features}[args.section](args)


if __name__ == "__main__":
    main()
