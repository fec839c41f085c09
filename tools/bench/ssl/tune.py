"""Tune SSL-CFM's α (weight), τ (temperature), SSL batch and value dropout on the VALIDATION split only.

Every run trains the demo's two-tower through the real pipeline (``recplug_recsys.demo.train_variant``: RecBole
split, log-Q, best epoch by validation RR@10) and records the validation metrics of its best epoch; test
metrics are never read. Stage 1 is a grid over (α, τ) with the other options at their defaults; stage 2 varies
the SSL batch size and the value-dropout rate at the best (α, τ) of stage 1.

Selection rule: only configurations within the issue's step-time budget (interleaved training step time at most
1.5x that without a regularizer, measured here with ``bench_pipeline.interleaved_step_times``); among them, those
whose mean validation R@50 is at least that of the run without a regularizer, and of those the one with the
highest mean validation tail R@50; when no configuration keeps the overall R@50, the one with the
highest mean validation tail R@50 of all. (The step-time condition was added after the first pass chose
SSL batch 1024, which the benchmark then measured at 1.83x.)

Writes ``tuning.json`` / ``tuning.md`` (ML-100K) or ``tuning_<dataset>.json`` / ``.md`` next to this file; runs
already in the JSON are kept and not trained again, so an interrupted sweep resumes. ``--jobs 2`` trains two
runs at a time (``parallel_runs.py``).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/ssl/tune.py --seeds 10 11 --epochs 6
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/ssl/tune.py --seeds 10 11 --epochs 5 --dataset ml-1m --jobs 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import parallel_runs
from bench_pipeline import interleaved_step_times
from recplug.fileio import atomic_write_json, atomic_write_text
from recplug_eval import markdown_table

HERE = Path(__file__).resolve().parent

MAX_STEP_RATIO = 1.5
METRICS = ("R@50", "nDCG@50", "tail/R@50", "tail/nDCG@50")
WEIGHTS = (0.03, 0.1, 0.3, 1.0)
TEMPERATURES = (0.05, 0.1, 0.2)
DEFAULTS = {"weight": 0.1, "temperature": 0.1, "batch_size": 256, "value_dropout": 0.1}
STAGE2 = ({"batch_size": 512}, {"batch_size": 1024}, {"value_dropout": 0.0}, {"value_dropout": 0.3})


def key(options: dict[str, Any] | None) -> str:
    return "none" if options is None else json.dumps(options, sort_keys=True)


def label(options: dict[str, Any] | None) -> str:
    if options is None:
        return "none"
    return (f"ssl-cfm α={options['weight']:g} τ={options['temperature']:g} batch={options['batch_size']} "
            f"dropout={options['value_dropout']:g}")


def summarise(runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run["seed"] in seeds:
            out.setdefault(run["key"], {"options": run["options"], "runs": []})["runs"].append(run)
    for entry in out.values():
        for m in METRICS:
            values = [r["valid"][m] for r in entry["runs"]]
            entry[m] = (statistics.mean(values), statistics.pstdev(values))
    return out


def choose(summary: dict[str, dict[str, Any]], stage_keys: list[str], over_budget: frozenset[str] = frozenset()) -> str:
    """The selection rule of the module docstring over ``stage_keys`` (less those ``over_budget``)."""
    floor = summary["none"]["R@50"][0]
    allowed = [k for k in stage_keys if k in summary and k not in over_budget]
    ok = [k for k in allowed if summary[k]["R@50"][0] >= floor]
    pool = ok or allowed  # nothing keeps overall recall: best tail anyway (said in the md)
    return max(pool, key=lambda k: summary[k]["tail/R@50"][0])


def main() -> None:
    from recplug.manager import load_plugin_manager
    from recplug_recsys import demo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at a time (one thread each)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder of tuning*.json / .md (default: this one)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: one (α, τ), one stage-2 change, 3 timed steps (needs --out)")
    args = parser.parse_args()
    if args.quick and args.out == HERE:
        parser.error("--quick needs --out (its results must not overwrite the committed ones)")
    weights, temperatures, stage2_changes, timed_steps = (
        ((0.1,), (0.1,), STAGE2[2:3], 3) if args.quick else (WEIGHTS, TEMPERATURES, STAGE2, 60))
    demo_settings = {"epochs": args.epochs, "data": {"dataset": args.dataset}}
    demo.DEMO_SETTINGS.update(demo_settings)
    stem = "tuning" if args.dataset == "ml-100k" else f"tuning_{args.dataset}"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{stem}.json"
    identity = {k: v for k, v in vars(args).items() if k not in ("out", "quick")}
    saved = json.loads(path.read_text()) if path.exists() else {}
    same = saved.get("args", {}) | {"seeds": None, "jobs": None} == identity | {"seeds": None, "jobs": None}
    runs: list[dict[str, Any]] = saved.get("runs", []) if same else []
    done = {(r["key"], r["seed"]) for r in runs}
    pm = load_plugin_manager()
    state: dict[str, Any] = {"args": identity, "runs": runs}

    def train(stage_options: list[dict[str, Any] | None], stage: int) -> None:
        todo = [parallel_runs.Run(f"tune-{len(runs) + i}", {"regularizers": [] if o is None else
                                                              [{"name": "ssl-cfm", "options": o}], "seed": seed},
                                  demo_settings, tag=(o, seed))
                for i, (o, seed) in enumerate((o, seed) for o in stage_options for seed in args.seeds
                                              if (key(o), seed) not in done)]
        for run, result, _history in parallel_runs.train_all(todo, args.jobs):
            options, seed = run.tag
            runs.append({"key": key(options), "options": options, "stage": stage, "seed": seed,
                         "best_epoch": result["best_epoch"], "seconds": result["seconds"],
                         "valid": {m: result["valid"][m] for m in METRICS}})
            done.add((key(options), seed))
            atomic_write_json(path, state)
            print(label(options), seed, {m: round(result["valid"][m], 4) for m in METRICS}, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        stage1 = [DEFAULTS | {"weight": w, "temperature": t} for w in weights for t in temperatures]
        train([None], 0)
        train(stage1, 1)
        summary = summarise(runs, args.seeds)
        best1 = summary[choose(summary, [key(o) for o in stage1])]["options"]
        stage2 = [best1 | change for change in stage2_changes]
        train(stage2, 2)
        # step time of every SSL batch size / dropout tried (α and τ do not change the work), interleaved

        timed = {"none": None, **{key(o): o for o in [best1, *stage2]}}
        ratios = state.get("step_times") or interleaved_step_times(
            {k: [] if o is None else [{"name": "ssl-cfm", "options": o}] for k, o in timed.items()}, pm, Path(tmp), timed_steps
        )
        state["step_times"] = ratios
    cost = {k: v["cpu_vs_none"] for k, v in ratios.items()}

    def cost_of(options: dict[str, Any] | None) -> float | None:
        if options is None:
            return 1.0
        same_work = [k for k, o in timed.items() if o is not None and o["batch_size"] == options["batch_size"]
                     and o["value_dropout"] == options["value_dropout"]]
        return cost[same_work[0]] if same_work else None

    over = frozenset(k for k, s in summarise(runs, args.seeds).items() if (cost_of(s["options"]) or 0) > MAX_STEP_RATIO)
    summary = summarise(runs, args.seeds)
    chosen_key = choose(summary, [key(o) for o in stage1 + stage2], over)
    chosen = summary[chosen_key]["options"]
    floor = summary["none"]["R@50"][0]
    kept = [k for k in summary if k != "none" and summary[k]["R@50"][0] >= floor]
    fallback = ("" if kept else " **No SSL-CFM configuration reached the no-regularizer run's mean validation "
                "R@50, so the fallback applied.**")
    state["stage1_best"], state["chosen"] = best1, chosen
    atomic_write_json(path, state)
    base = summary["none"]
    rows = []
    for k, s in summary.items():
        stage = s["runs"][0]["stage"]
        rows.append([
            str(stage), label(s["options"]) + (" **(chosen)**" if k == chosen_key else ""),
            *(f"{s[m][0]:.4f} ± {s[m][1]:.4f}" for m in METRICS),
            f"{100 * (s['R@50'][0] / base['R@50'][0] - 1):+.1f}%",
            f"{100 * (s['tail/R@50'][0] / base['tail/R@50'][0] - 1):+.1f}%",
            "yes" if s["R@50"][0] >= floor else "no",
            "" if cost_of(s["options"]) is None else f"{cost_of(s['options']):.2f}x",
        ])
    table = markdown_table(["stage", "configuration", "valid R@50", "valid nDCG@50", "valid tail R@50",
                            "valid tail nDCG@50", "R@50 vs none", "tail R@50 vs none",
                            "overall ≥ none", "CPU step time vs none"], rows)
    text = (
        f"# SSL-CFM tuning on the validation split ({args.dataset}, {args.epochs} epochs, seeds {args.seeds})\n\n"
        f"Command: `OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/ssl/tune.py --seeds "
        f"{' '.join(map(str, args.seeds))} --epochs {args.epochs} --dataset {args.dataset}"
        f"{f' --jobs {args.jobs}' if args.jobs > 1 else ''}`\n\n"
        "Each run: the demo's two-tower through `recplug_recsys.demo.train_variant` (RecBole split, log-Q, batch "
        "1024), best epoch by validation RR@10; the numbers are that epoch's **validation** metrics (full ranking, "
        "training items excluded; tail = items outside the top 20% by training interactions), mean ± std over the "
        "seeds. Test metrics are not read. The tuning seeds differ from the benchmark's seeds (0, 1, 2).\n\n"
        f"Stage 1: α ∈ {list(weights)} × τ ∈ {list(temperatures)}, SSL batch 256, value dropout 0.1. Stage 2: SSL "
        "batch 512 / 1024 and value dropout 0 / 0.3 at stage 1's best (α, τ).\n\n"
        f"Rule: configurations whose interleaved training step time (CPU, median of {timed_steps} steps) is at most "
        f"{MAX_STEP_RATIO}x that without a regularizer (the issue's budget; this condition was added after the first "
        "pass had chosen SSL batch 1024, measured at 1.83x by the benchmark); among them, those with mean validation "
        "R@50 ≥ the no-regularizer run's, then the highest mean validation tail R@50; if none keeps the "
        "overall R@50, the highest tail R@50 of all."
        f"{fallback}\n\n"
        f"Chosen: **{label(chosen)}**. Spread-out and SSL-RFM use the same α and τ in the benchmark (one shared "
        "setting, a like-for-like ablation; they were not tuned separately).\n\n"
        f"{table}\n"
    )
    atomic_write_text(args.out / f"{stem}.md", text)
    print(text)


if __name__ == "__main__":
    main()
