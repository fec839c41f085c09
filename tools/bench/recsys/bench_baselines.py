"""Reference rows for the two-tower: implicit's ALS and BPR (CPU) under the same split and full-ranking protocol.

Each model is tuned on the validation split only (grid below, selected by validation R@20), then its best
setting is refit with several seeds and scored on test (training and validation items excluded, as for the
two-tower). The two-tower rows come from ``bench_recsys.py seeds`` (the same split, tuned settings named there).
Results merge into ``results.json`` (section ``baselines``) and ``results.md``.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_baselines.py --dataset ml-100k
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_baselines.py --dataset ml-1m
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from typing import Any

import numpy as np

GRIDS: dict[str, dict[str, list[Any]]] = {
    "als": {"factors": [64, 128, 256], "regularization": [0.01, 0.1, 1.0], "alpha": [1.0, 5.0, 20.0],
            "iterations": [15]},
    "bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05], "regularization": [0.001, 0.01],
            "iterations": [100, 300]},
}
SELECT = "R@20"


def _model(kind: str, params: dict[str, Any], seed: int) -> Any:
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    threads = int(os.environ.get("OMP_NUM_THREADS", "1") or 1)
    if kind == "als":
        return AlternatingLeastSquares(**params, random_state=seed, num_threads=threads)
    return BayesianPersonalizedRanking(**params, random_state=seed, num_threads=threads)


def _fit_and_score(kind: str, params: dict[str, Any], seed: int, data: Any, which: str, ks: tuple[int, ...]) -> dict:
    import scipy.sparse as sp
    from recplug_eval.recsys_metrics import full_ranking_metrics, popularity_head_mask

    train = data.train
    matrix = sp.csr_matrix((np.ones(train.height, np.float32), (train["user_id"].to_numpy(), train["item_id"].to_numpy())),
                           shape=(data.features.num_users, data.features.num_items))
    matrix.data[:] = 1.0  # duplicate (user, item) rows count once
    model = _model(kind, params, seed)
    start = time.perf_counter()
    model.fit(matrix, show_progress=False)
    seconds = time.perf_counter() - start
    users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)
    head = popularity_head_mask(train, data.features.num_items)
    target, exclude = (data.valid, [train]) if which == "valid" else (data.test, [train, data.valid])
    metrics = full_ranking_metrics(users, items, target, exclude, ks=ks, head_mask=head)
    return {**metrics, "fit_seconds": seconds}


def main() -> None:
    from bench_recsys import _load, _save, add_results_dir_argument, cpu_model, use_results_dir
    from recplug.manager import load_plugin_manager
    from recplug_recsys.config import load_config
    from recplug_recsys.data import load_run_data

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--models", default="als,bpr")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: the first setting of each grid, a few iterations (not a measurement)")
    add_results_dir_argument(parser)
    args = parser.parse_args()
    use_results_dir(args.results_dir)

    ks = (10, 20, 50)
    data = load_run_data(load_config(None, [f"data.dataset={args.dataset}"]), load_plugin_manager())
    section = _load().get("baselines", {})
    for kind in args.models.split(","):
        grid = GRIDS[kind]
        if args.quick:
            grid = {k: v[:1] for k, v in grid.items()} | {"iterations": [2]}
        trials = []
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values, strict=True))
            valid = _fit_and_score(kind, params, 0, data, "valid", ks)
            trials.append({"params": params, "valid": {k: valid[k] for k in (SELECT, "nDCG@20")}})
            print(kind, params, {k: round(v, 4) for k, v in trials[-1]["valid"].items()}, flush=True)
        best = max(trials, key=lambda t: t["valid"][SELECT])
        runs = [_fit_and_score(kind, best["params"], seed, data, "test", ks) for seed in range(args.seeds)]
        keys = [k for k in runs[0] if "@" in k and k.split("@")[-1] in ("10", "20", "50")]
        section[f"{kind}/{args.dataset}"] = {
            "model": kind, "dataset": args.dataset, "best_params": best["params"], "select": f"valid {SELECT}",
            "grid": grid, "trials": trials, "seeds": list(range(args.seeds)),
            "test_mean": {k: float(np.mean([r[k] for r in runs])) for k in keys},
            "test_std": {k: float(np.std([r[k] for r in runs])) for k in keys},
            "fit_seconds": float(np.mean([r["fit_seconds"] for r in runs])),
            "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} nice -n 10 .venv/bin/python "
                       f"tools/bench/recsys/bench_baselines.py --dataset {args.dataset} --models {kind} "
                       f"--seeds {args.seeds}",
            "cpu": cpu_model(),
        }
        _save("baselines", section)
        print(kind, "best", best["params"], section[f"{kind}/{args.dataset}"]["test_mean"], flush=True)


if __name__ == "__main__":
    main()
