"""SSL ablation through the real pipeline (`recplug train`'s Trainer): MovieLens, RecBole split, log-Q.

Variants: no regularizer, spread-out, SSL-RFM, SSL-CFM, SSL-CFM with SSL items sampled from the click log;
several seeds; mean ± std of test R@50 / nDCG@50 overall and on the tail (items outside the top 20% by
training interactions). α, τ, SSL batch and value dropout come from the command line (defaults: the values
chosen on the validation split by ``tune.py``, see ``tuning.md``); spread-out and SSL-RFM use the same α and τ.

Training step time is measured separately, in one process: one trainer per variant, their steps interleaved
one by one (the order rotating every step) on the same batches, so that all variants share the machine load;
median wall and CPU seconds per optimizer step, relative to the run without a regularizer.

Writes ``results_pipeline_<dataset>.json`` / ``.md`` next to this file (``..._<dataset>_train<fraction>`` with
``--train-fraction``: a uniform share of the training interactions, the paper's data-sparsity study), the JSON
after every run; ``--resume`` keeps the runs already there (same settings) and trains only the missing ones;
``--jobs 2`` trains two runs at a time (``parallel_runs.py``).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/ssl/bench_pipeline.py --dataset ml-100k --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from recplug.fileio import atomic_write_json, atomic_write_text
from recplug_eval import markdown_table

HERE = Path(__file__).resolve().parent
METRICS = ("R@50", "nDCG@50", "tail/R@50", "tail/nDCG@50")
# chosen on ML-100K's validation split (tools/bench/ssl/tuning.md)
CHOSEN = {"weight": 0.1, "temperature": 0.05, "ssl_batch_size": 256, "value_dropout": 0.1}


def variants(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Regularizer lists of the five variants with the command line's hyper-parameters."""
    ssl = {"weight": args.weight, "temperature": args.temperature, "batch_size": args.ssl_batch_size,
           "value_dropout": args.value_dropout}
    return {
        "none": [],
        "spread-out": [{"name": "spread-out", "options": {"weight": args.weight, "temperature": args.temperature}}],
        "ssl-rfm": [{"name": "ssl-rfm", "options": ssl}],
        "ssl-cfm": [{"name": "ssl-cfm", "options": ssl}],
        "ssl-cfm, click-log sampling": [{"name": "ssl-cfm", "options": ssl | {"sampler": "click_log"}}],
    }


def run_name(name: str, seed: int) -> str:
    return f"{name}-{seed}".replace(" ", "_").replace(",", "")


def interleaved_step_times(named: dict[str, list[dict[str, Any]]], pm: Any, workdir: Path, steps: int = 100,
                           warmup: int = 5) -> dict[str, Any]:
    """Median wall / CPU seconds per training step of every named regularizer list (``"none"``: ``[]`` must be
    one of them), one trainer each on the demo's settings, their steps interleaved on the same batches."""
    import torch
    from recplug_recsys import demo
    from recplug_recsys.config import TrainConfig, from_dict
    from recplug_recsys.trainer import Trainer

    torch.set_num_threads(1)
    trainers = {}
    for name, regularizers in named.items():
        settings = {"regularizers": regularizers, "seed": 0, "output_dir": str(workdir / f"steps-{run_name(name, 0)}")}
        trainers[name] = Trainer(from_dict(TrainConfig, demo._merge(demo.DEMO_SETTINGS, settings)), pm=pm)
    first = next(iter(trainers.values()))
    users, items = first.data.train_pairs
    batch = first.config.batch_size
    order = torch.randperm(len(users), generator=torch.Generator().manual_seed(0))
    per_pass = len(users) // batch
    wall: dict[str, list[float]] = {n: [] for n in trainers}
    cpu: dict[str, list[float]] = {n: [] for n in trainers}
    names = list(trainers)
    for step in range(warmup + steps):
        s = step % per_pass
        rows = order[s * batch : (s + 1) * batch]
        names = names[1:] + names[:1]  # rotate, so that no variant always follows the same one
        for name in names:
            trainer = trainers[name]
            trainer.model.train()
            start, start_cpu = time.perf_counter(), time.process_time()
            trainer.train_step(users[rows], items[rows])
            if step >= warmup:
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    base_wall, base_cpu = statistics.median(wall["none"]), statistics.median(cpu["none"])
    return {
        n: {"median_wall_s": statistics.median(wall[n]), "wall_vs_none": statistics.median(wall[n]) / base_wall,
            "median_cpu_s": statistics.median(cpu[n]), "cpu_vs_none": statistics.median(cpu[n]) / base_cpu,
            "steps": len(wall[n])}
        for n in trainers
    }


def tail_statistics(pm: Any) -> dict[str, Any]:
    """How long the tail is, on the demo settings' training data: items outside the top 20% by training
    interactions, their training interactions per item (median, quartiles) and their share of the training and
    test interactions."""
    import numpy as np
    from recplug_eval.recsys_metrics import popularity_head_mask
    from recplug_recsys import demo
    from recplug_recsys.config import TrainConfig, from_dict
    from recplug_recsys.trainer import load_run_data

    data = load_run_data(from_dict(TrainConfig, demo._merge(demo.DEMO_SETTINGS, {})), pm)
    num_items = data.features.num_items
    head = popularity_head_mask(data.train, num_items)
    counts = np.bincount(data.train["item_id"].to_numpy(), minlength=num_items)
    tail_counts = counts[~head]
    test_items = data.test["item_id"].to_numpy()
    return {
        "items": int(num_items), "tail_items": int((~head).sum()),
        "tail_train_interactions_median": float(np.median(tail_counts)),
        "tail_train_interactions_quartiles": [float(np.percentile(tail_counts, 25)), float(np.percentile(tail_counts, 75))],
        "tail_items_under_5": int((tail_counts < 5).sum()),
        "tail_share_of_train": float(tail_counts.sum() / counts.sum()),
        "tail_share_of_test": float((~head[test_items]).mean()),
    }


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary = {}
    for name, rs in runs.items():
        if not rs:
            continue
        s: dict[str, Any] = {m: (statistics.mean(r["test"][m] for r in rs), statistics.pstdev(r["test"][m] for r in rs))
                             for m in METRICS}
        s["seeds"] = [r["seed"] for r in rs]
        s["train_seconds"] = statistics.mean(r["train_seconds"] for r in rs)
        s["best_epochs"] = [r["best_epoch"] for r in rs]
        summary[name] = s
    return summary


def command(args: argparse.Namespace) -> str:
    return (f"OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/ssl/bench_pipeline.py --dataset {args.dataset} "
            f"--seeds {' '.join(map(str, args.seeds))} --epochs {args.epochs} --weight {args.weight:g} "
            f"--temperature {args.temperature:g} --ssl-batch-size {args.ssl_batch_size} "
            f"--value-dropout {args.value_dropout:g} --step-time-steps {args.step_time_steps}"
            + (f" --train-fraction {args.train_fraction:g}" if args.train_fraction < 1 else "")
            + (f" --jobs {args.jobs}" if args.jobs > 1 else ""))


def output_stem(args: argparse.Namespace) -> str:
    fraction = f"_train{args.train_fraction:g}" if args.train_fraction < 1 else ""
    return f"results_pipeline_{args.dataset}{fraction}"


def write_markdown(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], steps: dict[str, Any] | None,
                   path: Path, tail: dict[str, Any] | None = None) -> None:
    summary = summarise(runs)
    base = summary.get("none")
    rows = []
    for name, s in summary.items():
        rel = ([f"{100 * (s[m][0] / base[m][0] - 1):+.1f}%" for m in ("R@50", "tail/R@50")]
               if base else ["", ""])
        none_tail = {r["seed"]: r["test"]["tail/R@50"] for r in runs.get("none", [])}
        paired = " ".join(f"{r['test']['tail/R@50'] - none_tail[r['seed']]:+.3f}" for r in runs[name]
                          if r["seed"] in none_tail)
        rows.append([name, *(f"{s[m][0]:.4f} ± {s[m][1]:.4f}" for m in METRICS), *rel, paired,
                     " ".join(map(str, s["best_epochs"])), f"{s['train_seconds']:.0f}"])
    table = markdown_table(["variant", "R@50", "nDCG@50", "tail R@50", "tail nDCG@50", "R@50 vs none",
                            "tail R@50 vs none", "tail R@50 − none, per seed", "best epoch per seed",
                            "train s / run"], rows)
    done = sum(len(r) for r in runs.values())
    text = [
        f"# SSL through the recplug-recsys pipeline ({args.dataset}"
        + (f", {100 * args.train_fraction:g}% of the training interactions)" if args.train_fraction < 1 else ")"),
        "",
        f"Command: `{command(args)}`",
        "",
        (f"Training on a uniform {100 * args.train_fraction:g}% of the training split's interactions (drawn once, "
         "`data.train_fraction`, the same for every run; validation and test unchanged; tail and log-Q from the kept "
         "interactions). " if args.train_fraction < 1 else "")
        + f"RecBole split 8:1:1, log-Q, the demo's two-tower (E=64, MLP 128, D=64, batch 1024, τ_main 0.05), "
        f"{args.epochs} epochs, seeds {args.seeds} ({done} of {len(runs) * len(args.seeds)} runs done). Best epoch "
        "by validation RR@10 (RecBole's rule), test metrics of that epoch (mean ± std over seeds), full ranking "
        "with training and validation items excluded; tail = items outside the top 20% by training interactions. "
        f"Regularizers: α = {args.weight:g}, τ = {args.temperature:g} for spread-out, SSL-RFM and SSL-CFM; SSL batch "
        f"{args.ssl_batch_size}, value dropout {args.value_dropout:g} (chosen on ML-100K's validation split: "
        "`tuning.md`). train s / run: the training epochs only (no evaluation), "
        + ("runs one after another" if args.jobs <= 1 else f"{args.jobs} runs at a time")
        + " on a shared 2-core machine, so not comparable across variants"
        + ("; see the interleaved step time below." if steps else "."),
        "",
        table,
        "",
    ]
    if tail:
        q1, q3 = tail["tail_train_interactions_quartiles"]
        text += [
            f"The tail: {tail['tail_items']} of {tail['items']} items; training interactions per tail item: median "
            f"{tail['tail_train_interactions_median']:g} (quartiles {q1:g}, {q3:g}; {tail['tail_items_under_5']} "
            f"items under 5); the tail holds {100 * tail['tail_share_of_train']:.0f}% of the training interactions "
            f"and {100 * tail['tail_share_of_test']:.0f}% of the test interactions.",
            "",
        ]
    if steps:
        n = next(iter(steps.values()))["steps"]
        text += [
            f"## Training step time, interleaved (median of {n} steps per variant, same batches, one process)",
            "",
            "| variant | CPU s/step | CPU vs none | wall s/step | wall vs none |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(f"| {m} | {v['median_cpu_s']:.4f} | {v['cpu_vs_none']:.2f}x | {v['median_wall_s']:.4f} | "
              f"{v['wall_vs_none']:.2f}x |" for m, v in steps.items()),
            "",
        ]
    atomic_write_text(path, "\n".join(text))


def main(argv: list[str] | None = None) -> None:
    from recplug.manager import load_plugin_manager
    from recplug_recsys import demo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--weight", type=float, default=CHOSEN["weight"], help="α of every regularizer")
    parser.add_argument("--temperature", type=float, default=CHOSEN["temperature"], help="τ of every regularizer")
    parser.add_argument("--ssl-batch-size", type=int, default=CHOSEN["ssl_batch_size"])
    parser.add_argument("--value-dropout", type=float, default=CHOSEN["value_dropout"])
    parser.add_argument("--step-time-steps", type=int, default=100, help="0: no step-time measurement")
    parser.add_argument("--step-time-warmup", type=int, default=5)
    parser.add_argument("--train-fraction", type=float, default=1.0, help="share of the training interactions kept")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at a time (one thread each)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE, help="folder of results_pipeline_*.json / .md")
    args = parser.parse_args(argv)
    import parallel_runs

    data = {"dataset": args.dataset} | ({"train_fraction": args.train_fraction} if args.train_fraction < 1 else {})
    demo_settings = {"epochs": args.epochs, "data": data}
    demo.DEMO_SETTINGS.update(demo_settings)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{output_stem(args)}.json"
    # what makes two runs comparable; train_fraction only when < 1, as older files lack it
    identity = {k: v for k, v in vars(args).items()
                if k not in ("resume", "jobs", "out") and not (k == "train_fraction" and v >= 1)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants(args)}
    steps = None
    if args.resume and path.exists():
        saved = json.loads(path.read_text())
        if saved["args"] == identity:
            runs |= {k: [r for r in v if r["seed"] in args.seeds] for k, v in saved["runs"].items()}
            steps = saved.get("step_times")
    pm = load_plugin_manager()
    tail = tail_statistics(pm)

    def save() -> None:
        atomic_write_json(path, {"args": identity, "command": command(args), "runs": runs,
                                 "summary": summarise(runs), "step_times": steps, "tail": tail})
        write_markdown(args, runs, steps, path.with_suffix(".md"), tail)

    with tempfile.TemporaryDirectory() as tmp:
        if args.step_time_steps and steps is None:
            steps = interleaved_step_times(variants(args), pm, Path(tmp), args.step_time_steps, args.step_time_warmup)
            print("step times", json.dumps(steps), flush=True)
            save()
    todo = [parallel_runs.Run(run_name(name, seed), {"regularizers": regularizers, "seed": seed}, demo_settings,
                              tag=(name, seed))
            for seed in args.seeds for name, regularizers in variants(args).items()
            if not any(r["seed"] == seed for r in runs[name])]
    for run, result, history in parallel_runs.train_all(todo, args.jobs):
        name, seed = run.tag
        runs[name].append({
            "seed": seed, "best_epoch": result["best_epoch"], "seconds": result["seconds"],
            "train_seconds": sum(h["seconds"] for h in history), "steps": history[-1]["step"],
            "valid": {m: result["valid"][m] for m in METRICS}, "test": result["test"],
        })
        runs[name].sort(key=lambda r: r["seed"])
        save()
        print(name, seed, {m: round(result["test"][m], 4) for m in METRICS}, flush=True)
    save()
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
