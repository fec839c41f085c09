"""Benchmark: DSL and compression baselines vs dense on the two-tower MovieLens model.

For each (compressor, density, seed) this trains the recplug-recsys two-tower model with that compressor
(``recplug_recsys.trainer.Trainer``), exports both towers' tables to their compact serving form, swaps the
served tables into the model and scores the test split: R@20 / nDCG@20 overall and on the item-
popularity tail, against the real serving bytes of the tables. Training step time is measured in the
same run for every compressor (seconds per optimizer step, training epochs only).

Writes ``results.json``, ``results.md`` and ``quality_vs_memory.png`` next to this script (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def dsl_options(density: float, total_steps: int) -> dict[str, Any]:
    """DSL's options for a run of ``total_steps``: ΔT a tenth of the run (9 updates)."""
    return {"density": density, "delta_t": max(1, total_steps // 10), "total_steps": total_steps}


# (name, label, options builder(density, total_steps)); density None = one point, no density knob
METHODS: dict[str, Any] = {
    "dense": (None, lambda d, t: {}),
    "dsl": ("density", dsl_options),
    "dsl-last": ("density", lambda d, t: dsl_options(d, t) | {"grow": "last"}),
    "dsl-int8-values": ("density", lambda d, t: dsl_options(d, t) | {"value_bits": 8}),
    "magnitude-prune": ("density", lambda d, t: {"density": d}),
    "magnitude-prune-int8-values": ("density", lambda d, t: {"density": d, "value_bits": 8}),
    "hashing": ("density", lambda d, t: {"density": d}),
    "quotient-remainder": ("density", lambda d, t: {"density": d}),
    "multiplexed": ("density", lambda d, t: {"density": d}),
    "int8": (None, lambda d, t: {}),
    "int4": (None, lambda d, t: {}),
}
COMPONENT = {"dsl-last": "dsl", "dsl-int8-values": "dsl", "magnitude-prune-int8-values": "magnitude-prune"}
# what runs resumed into one results.json must share; the interleaved step-time measurement a resume without one keeps
RUN_SETTINGS = ("dataset", "epochs", "steps_per_epoch", "batch_size", "dim", "log_q", "table_lr")
STEP_TIME_KEYS = ("step_time_dataset", "step_time_steps", "step_times")


def run_one(method: str, density: float | None, seed: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import torch
    from recplug_recsys.config import ComponentConfig, DataConfig, ModelConfig, TrainConfig
    from recplug_recsys.trainer import Trainer, evaluate

    torch.set_num_threads(args.threads)
    steps_per_epoch = args.max_steps_per_epoch
    total_steps = args.epochs * steps_per_epoch
    options = METHODS[method][1](density, total_steps)
    if method.startswith("dsl") and args.delta_t:
        options = options | {"delta_t": args.delta_t}
    run_dir = workdir / f"{method}-{density}-{seed}"
    config = TrainConfig(
        data=DataConfig(dataset=args.dataset),
        model=ModelConfig(embedding_dim=args.dim, hidden=(128,), output_dim=64, log_q=args.log_q),
        compressor=ComponentConfig(COMPONENT.get(method, method), options),
        epochs=args.epochs, batch_size=args.batch_size, seed=seed, output_dir=str(run_dir),
        eval_ks=(20,), select_metric="nDCG@20", max_steps_per_epoch=steps_per_epoch, resume=False, progress=False,
        table_lr=args.table_lr,
    )
    trainer = Trainer(config)
    trainer.fit()
    seconds = sum(r["seconds"] for r in trainer.history)
    steps = trainer.step
    model = trainer.inner
    trained = evaluate(model, trainer.data, "test", (20,))
    # real serving: export each tower's tables, load the compact form, score with it
    serving_bytes, dense_bytes = 0, 0
    for tower in ("user", "item"):
        ebc, tables = getattr(model, f"{tower}_ebc"), getattr(model, f"{tower}_tables")
        info = trainer.compressor.export(ebc, run_dir / f"{tower}.pt")
        served = trainer.compressor.load_export(info.path, tables)
        setattr(model, f"{tower}_ebc", served)
        serving_bytes += info.serving_bytes
        dense_bytes += sum(t.num_embeddings * t.embedding_dim * 4 for t in tables)
    served_metrics = evaluate(model, trainer.data, "test", (20,))
    return {
        "method": method, "density": density, "seed": seed, "options": options,
        "serving_bytes": serving_bytes, "dense_bytes": dense_bytes, "memory_ratio": serving_bytes / dense_bytes,
        "seconds_per_step": seconds / max(steps, 1), "steps": steps, "best_epoch": trainer.best["epoch"],
        "served": {k: served_metrics[k] for k in sorted(served_metrics) if k.endswith("@20")},
        "trained": {k: trained[k] for k in sorted(trained) if k.endswith("@20")},
    }


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds per (method, density); step time relative to dense."""
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["density"]), []).append(row)
    dense_step = statistics.mean(r["seconds_per_step"] for r in groups.get(("dense", None), [])) if ("dense", None) in groups else None
    out = []
    for (method, density), group in groups.items():
        entry: dict[str, Any] = {"method": method, "density": density, "seeds": len(group),
                                 "serving_bytes": statistics.mean(r["serving_bytes"] for r in group),
                                 "memory_ratio": statistics.mean(r["memory_ratio"] for r in group),
                                 "seconds_per_step": statistics.mean(r["seconds_per_step"] for r in group)}
        entry["step_time_vs_dense"] = entry["seconds_per_step"] / dense_step if dense_step else float("nan")
        for key in ("R@20", "nDCG@20", "tail/R@20", "tail/nDCG@20"):
            values = [r["served"].get(key, float("nan")) for r in group]
            entry[key] = statistics.mean(values)
            entry[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(entry)
    dense = next((e for e in out if e["method"] == "dense"), None)
    for entry in out:
        entry["recall_vs_dense"] = entry["R@20"] / dense["R@20"] if dense else float("nan")
    return sorted(out, key=lambda e: (e["method"] != "dense", e["method"], -(e["density"] or 0)))


def write_markdown(summary: list[dict[str, Any]], meta: dict[str, Any], path: Path) -> None:
    from recplug_eval import markdown_table

    header = ["method", "density", "seeds", "serving MB", "memory vs dense", "R@20", "nDCG@20", "tail R@20",
              "tail nDCG@20", "Recall vs dense"]
    rows = []
    for e in summary:
        def fmt(key: str, e: dict[str, Any] = e) -> str:
            return f"{e[key]:.4f} ± {e[key + '_std']:.4f}" if e["seeds"] > 1 else f"{e[key]:.4f}"

        rows.append([e["method"], "-" if e["density"] is None else f"{e['density']:.0%}", str(e["seeds"]), f"{e['serving_bytes'] / 1e6:.3f}",
                     f"{e['memory_ratio']:.3f}", fmt("R@20"), fmt("nDCG@20"), fmt("tail/R@20"), fmt("tail/nDCG@20"),
                     f"{e['recall_vs_dense']:.3f}"])
    text = [
        "# Dynamic sparse embeddings vs compression baselines (two-tower, MovieLens)",
        "",
        "Commands (in order; each `--resume` adds its runs to the same results.json, `--replace` measures the "
        "runs it lists again and drops their earlier rows):",
        "",
        "```bash",
        *meta["commands"],
        "```",
        "",
        f"Data: {meta['dataset']}, RecBole split 8:1:1, test metrics of the served (exported) tables, training items and "
        f"validation items excluded. {meta['epochs']} epochs x {meta['steps_per_epoch']} steps, batch {meta['batch_size']}, "
        f"embedding dim {meta['dim']}, log-Q {'on' if meta.get('log_q') else 'off'}, seeds {meta['seeds']}. Machine: 2 CPU cores shared with other jobs; "
        f"{meta['runs_done']}/{meta['runs_planned']} runs in {meta['minutes']:.1f} min.",
        "Serving MB: the bytes the serving tables hold (all user and item tables, small tables dense). Training step "
        "time: the interleaved measurement (the runs ran one after another under a varying machine load, so their "
        "own step times, kept in results.json, are not comparable).",
        *([f"Measured again with `--replace` (earlier rows dropped): {len(meta['replaced'])} runs "
           f"({', '.join(sorted({str(r[0]) for r in meta['replaced']}))})."] if meta.get("replaced") else []),
        "",
        markdown_table(header, rows),
        "",
        *dict.fromkeys(f"Not measured: {m} at density {d}: {why}" for m, d, _, why in meta.get("skipped", [])),
        *([meta["note"]] if meta.get("note") else []),
        "",
    ]
    path.write_text("\n".join(text))


def plot(summary: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("R@20", "tail/R@20"), strict=True):
        methods = dict.fromkeys(e["method"] for e in summary)
        for method in methods:
            pts = sorted((e["serving_bytes"] / 1e6, e[key], e[key + "_std"]) for e in summary if e["method"] == method)
            xs, ys, err = zip(*pts, strict=True)
            ax.errorbar(xs, ys, yerr=err, marker="o", label=method, capsize=3)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:g}" if f"{x:.0e}"[0] in "235" else ""))
        ax.set_xlabel("serving bytes of the embedding tables (MB, log)")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("quality vs memory (test split, served tables)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def interleaved_step_times(dataset: str, methods: list[str], steps: int, batch_size: int, threads: int, workdir: Path) -> dict[str, Any]:
    """Median seconds per training step of each compressor (density 20%) on ``dataset``, the compressors'
    steps interleaved one by one so that they share the same machine load."""
    import torch
    from recplug_recsys.config import ComponentConfig, DataConfig, TrainConfig
    from recplug_recsys.trainer import Trainer

    torch.set_num_threads(threads)
    total = 10_000
    trainers = {}
    for method in methods:
        options = METHODS[method][1](0.2, total) if METHODS[method][0] else {}
        options = options | ({"delta_t": 5} if method.startswith("dsl") else {})  # updates inside the window
        config = TrainConfig(data=DataConfig(dataset=dataset), compressor=ComponentConfig(COMPONENT.get(method, method), options),
                             batch_size=batch_size, progress=False, resume=False, output_dir=str(workdir / f"steps-{method}"))
        trainers[method] = Trainer(config)
    users, items = next(iter(trainers.values())).data.train_pairs
    times: dict[str, list[float]] = {m: [] for m in methods}
    cpu: dict[str, list[float]] = {m: [] for m in methods}
    order = list(trainers)
    for step in range(steps + 2):
        rows = slice(step * batch_size, (step + 1) * batch_size)
        order = order[1:] + order[:1]  # rotate, so no compressor always runs right after another
        for method in order:
            trainer = trainers[method]
            start, start_cpu = time.perf_counter(), time.process_time()
            trainer.train_step(users[rows], items[rows])
            if step >= 2:  # warm-up
                times[method].append(time.perf_counter() - start)
                cpu[method].append(time.process_time() - start_cpu)
    dense, dense_cpu = statistics.median(times["dense"]), statistics.median(cpu["dense"])
    return {m: {"median_seconds_per_step": statistics.median(times[m]), "vs_dense": statistics.median(times[m]) / dense,
                "median_cpu_seconds_per_step": statistics.median(cpu[m]), "cpu_vs_dense": statistics.median(cpu[m]) / dense_cpu}
            for m in methods}


def write_outputs(rows: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> None:
    """``results.json``, ``results.md`` and the plot from the runs so far."""
    from recplug.fileio import atomic_write_json

    summary = summarise(rows)
    meta = meta | {"runs_done": len(rows), "seeds": sorted({r["seed"] for r in rows})}
    atomic_write_json(out / "results.json", {"meta": meta, "summary": summary, "runs": rows})
    write_markdown(summary, meta, out / "results.md")
    plot(summary, out / "quality_vs_memory.png")
    if meta.get("step_times"):
        lines = ["", f"## Training step time, interleaved ({meta['step_time_dataset']}, batch {meta['batch_size']}, density 20%, "
                 f"ΔT = 5 so DSL updates fall inside the window; median of {meta['step_time_steps']} steps each)", "",
                 "CPU time (this process, both threads) is the fairer measure on a machine shared with other jobs; wall "
                 "time is given too.", "",
                 "| compressor | CPU s/step | CPU vs dense | wall s/step | wall vs dense |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {m} | {v['median_cpu_seconds_per_step']:.3f} | {v['cpu_vs_dense']:.2f}x | {v['median_seconds_per_step']:.3f} "
                  f"| {v['vs_dense']:.2f}x |" for m, v in meta["step_times"].items()]
        with open(out / "results.md", "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def rewrite_outputs(out: Path) -> None:
    """Regenerate ``results.md`` and the plot from ``results.json`` (no training)."""
    saved = json.loads((out / "results.json").read_text())
    write_outputs(saved["runs"], saved["meta"], out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--densities", nargs="+", type=float, default=[0.5, 0.2, 0.1])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps-per-epoch", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--table-lr", type=float, default=0.05)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--delta-t", type=int, default=0,
                        help="DSL's ΔT in steps (default 0: a tenth of the training steps, 9 updates)")
    parser.add_argument("--log-q", action="store_true", help="log-Q correction of the in-batch softmax (the pipeline's best)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out/results.json")
    parser.add_argument("--replace", action="store_true",
                        help="with --resume: measure the listed runs again, replacing their earlier rows (after a code fix)")
    parser.add_argument("--step-time-dataset", default="ml-1m")
    parser.add_argument("--step-time-steps", type=int, default=8)
    parser.add_argument("--step-time-methods", nargs="+", default=["dense", "dsl", "dsl-last", "magnitude-prune", "hashing", "int8"])
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    jobs = []  # a method may name its densities: "dsl-last:0.2"
    for seed in args.seeds:
        for entry in args.methods:
            method, _, only = entry.partition(":")
            densities = [float(x) for x in only.split(",")] if only else args.densities
            jobs += [(method, d, seed) for d in ([None] if METHODS[method][0] is None else densities)]
    from tqdm.auto import tqdm

    niceness = os.nice(0)
    command = (f"nice -n {niceness} " if niceness else "") + " ".join(
        [".venv/bin/python tools/bench/dynamic_sparse/bench.py", *(argv if argv is not None else sys.argv[1:])])
    meta = {"commands": [command],
            "dataset": args.dataset, "epochs": args.epochs, "steps_per_epoch": args.max_steps_per_epoch,
            "batch_size": args.batch_size, "dim": args.dim, "log_q": args.log_q, "table_lr": args.table_lr, "threads": args.threads,
            "cpu_count": os.cpu_count()}
    args.out.mkdir(parents=True, exist_ok=True)
    from recplug.errors import ConfigError

    saved_meta: dict = {}
    if args.resume and (args.out / "results.json").exists():  # keep the runs earlier invocations measured
        saved = json.loads((args.out / "results.json").read_text())
        saved_meta, rows = saved["meta"], saved["runs"]
        differ = [k for k in RUN_SETTINGS if saved_meta.get(k) != meta[k]]
        if differ:
            raise ConfigError(f"--resume into {args.out}: its runs were made with other settings: "
                              + ", ".join(f"{k} {saved_meta.get(k)!r}, not {meta[k]!r}" for k in differ))
        skipped = saved_meta.get("skipped", [])
        meta["commands"] = saved_meta["commands"] + meta["commands"]
        meta["minutes_before_resume"] = saved_meta.get("minutes", 0.0)
        meta |= {k: saved_meta[k] for k in STEP_TIME_KEYS if k in saved_meta and args.step_time_steps <= 0}
    else:
        skipped = []
    if args.replace:
        if not args.resume:
            raise ConfigError("--replace needs --resume (it replaces rows of an existing results.json)")
        again = set(jobs)
        meta["replaced"] = saved_meta.get("replaced", []) + [
            [r["method"], r["density"], r["seed"]] for r in rows if (r["method"], r["density"], r["seed"]) in again]
        rows = [r for r in rows if (r["method"], r["density"], r["seed"]) not in again]
        skipped = [x for x in skipped if tuple(x[:3]) not in again]
    done = {(r["method"], r["density"], r["seed"]) for r in rows} | {tuple(x[:3]) for x in skipped}
    meta["runs_planned"] = len(done | set(jobs))
    meta["skipped"] = skipped
    with tempfile.TemporaryDirectory() as tmp:
        for method, density, seed in tqdm([j for j in jobs if j not in done], desc="runs"):
            try:
                row = run_one(method, density, seed, args, Path(tmp))
            except ConfigError as exc:  # e.g. QR cannot split a table within the budget: recorded, not measured
                skipped.append([method, density, seed, str(exc)])
                print(f"skipped {method} {density}: {exc}", flush=True)
                continue
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("method", "density", "seed", "memory_ratio", "seconds_per_step")} | row["served"]), flush=True)
            meta["minutes"] = meta.get("minutes_before_resume", 0.0) + (time.perf_counter() - start) / 60
            write_outputs(rows, meta, args.out)  # after every run, so a cut-short benchmark keeps what it measured
        if args.step_time_steps > 0:
            meta |= {"step_time_dataset": args.step_time_dataset, "step_time_steps": args.step_time_steps,
                     "step_times": interleaved_step_times(args.step_time_dataset, args.step_time_methods, args.step_time_steps,
                                                          args.batch_size, args.threads, Path(tmp))}
            meta["minutes"] = meta.get("minutes_before_resume", 0.0) + (time.perf_counter() - start) / 60
            print(json.dumps(meta["step_times"]), flush=True)
            write_outputs(rows, meta, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
