"""The two-tower tuned on validation only, then run with several seeds: the rows compared with ALS / BPR.

Every setting of the grid trains ``--epochs`` epochs; the best epoch of a run and the best setting of the grid are
both chosen by validation ``--select`` (test is never looked at), then the best setting is rerun with ``--seeds``
seeds and its test metrics reported as mean and standard deviation. Results merge into ``results.json``
(section ``two_tower_tuned``) and ``results.md``.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_tune.py --dataset ml-100k --epochs 30
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_tune.py --dataset ml-1m --epochs 16 \\
        --grid '{"temperature": [0.05], "log_q": [true], "table_lr": [0.1]}'
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time

import numpy as np

GRID = {"temperature": [0.05, 0.1], "log_q": [True, False], "table_lr": [0.05, 0.1]}
BASE = ["batch_size=1024", "model.embedding_dim=64", "model.hidden=[128]", "model.output_dim=64", "progress=false",
        "eval_ks=[10,20,50]", "resume=false"]


def _train(dataset: str, epochs: int, select: str, setting: dict, seed: int) -> dict:
    from recplug_recsys.config import load_config
    from recplug_recsys.trainer import Trainer

    overrides = [*BASE, f"data.dataset={dataset}", f"epochs={epochs}", f"select_metric={select}", f"seed={seed}",
                 f"model.temperature={setting['temperature']}", f"model.log_q={json.dumps(setting['log_q'])}",
                 f"table_lr={setting['table_lr']}", f'output_dir="{tempfile.mkdtemp()}"']
    start = time.perf_counter()
    result = Trainer(load_config(None, overrides)).fit()
    return {"valid": result["valid"], "test": result["test"], "best_epoch": result["best_epoch"],
            "examples_per_second": result["examples_per_second"], "seconds": time.perf_counter() - start,
            "overrides": [o for o in overrides if not o.startswith("output_dir")]}


def main() -> None:
    from bench_recsys import _load, _save, add_results_dir_argument, cpu_model, use_results_dir
    from recplug_eval.metrics import measure_name

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_results_dir_argument(parser)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--select", default="R@20", help="validation measure (ir-measures name)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--grid", default=None, help="JSON grid (keys temperature, log_q, table_lr)")
    args = parser.parse_args()
    use_results_dir(args.results_dir)
    args.select = measure_name(args.select)  # "Recall@20" -> "R@20"; an old name ("recall@20") is an error
    grid = json.loads(args.grid) if args.grid else GRID
    settings = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    trials = []
    for setting in settings if len(settings) > 1 else []:  # one setting: nothing to choose
        run = _train(args.dataset, args.epochs, args.select, setting, 0)
        trials.append({"setting": setting, "valid": run["valid"][args.select], "best_epoch": run["best_epoch"]})
        print(trials[-1], flush=True)
    best = max(trials, key=lambda t: t["valid"]) if trials else {"setting": settings[0]}
    runs = [_train(args.dataset, args.epochs, args.select, best["setting"], seed) for seed in range(args.seeds)]
    keys = [k for k in runs[0]["test"] if k.split("@")[-1] in ("10", "20", "50") and not k.startswith(("Success", "P@"))]
    section = _load().get("two_tower_tuned", {})
    section[args.dataset] = {
        "grid": grid, "epochs": args.epochs, "select": f"valid {args.select}", "trials": trials,
        "best_setting": best["setting"], "seeds": list(range(args.seeds)),
        "best_epochs": [r["best_epoch"] for r in runs],
        "test_mean": {k: float(np.mean([r["test"][k] for r in runs])) for k in keys},
        "test_std": {k: float(np.std([r["test"][k] for r in runs])) for k in keys},
        "test_per_seed": [{k: r["test"][k] for k in ("R@10", "R@20", "nDCG@20")} for r in runs],
        "examples_per_second": float(np.mean([r["examples_per_second"] for r in runs])),
        "overrides": runs[0]["overrides"],
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} nice -n 10 .venv/bin/python "
                   f"tools/bench/recsys/bench_tune.py --dataset {args.dataset} --epochs {args.epochs} "
                   f"--select {args.select} --seeds {args.seeds}" + (f" --grid '{args.grid}'" if args.grid else ""),
        "cpu": cpu_model(),
    }
    _save("two_tower_tuned", section)
    print(section[args.dataset]["test_mean"], section[args.dataset]["test_std"], flush=True)


if __name__ == "__main__":
    main()
