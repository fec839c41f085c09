"""Benchmark: SSL regularization (Yao et al. 2021) on MovieLens with recplug-recsys's two-tower model.

For each dataset, seed and variant (none / spread-out / SSL-RFM / SSL-CFM / SSL-CFM with click-log
sampling) this trains the same TwoTowerModel (torchrec EmbeddingBagCollection tables) on RecBole's split
with ``L = L_main + α·L_reg`` (regularizers built by name through the plugin manager, as the trainer does),
then scores the test split with recplug-eval's ``full_ranking_metrics`` (all items ranked, the user's train
and valid items excluded): R@K / nDCG@K overall and on the tail slice (test items outside the top 20% of
items by training popularity; users without such items left out). The training step time of SSL against
none is measured alternately, step by step, in one loop of the same process.

Run (from the repository root)::

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python tools/bench/ssl/bench_ssl.py --datasets ml-100k --seeds 0 1 2

writes ``results.json`` and ``results.md`` next to this file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from recplug import load_plugin_manager
from recplug.fileio import atomic_write_json, atomic_write_text
from recplug_eval import markdown_table
from tqdm import tqdm

HERE = Path(__file__).resolve().parent

#: variant -> (regularizer name or None, its options)
VARIANTS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "none": (None, {}),
    "spread-out": ("spread-out", {"form": "softmax"}),
    "ssl-rfm": ("ssl-rfm", {}),
    "ssl-cfm": ("ssl-cfm", {}),
    "ssl-cfm-clicklog": ("ssl-cfm", {"sampler": "click_log"}),
}


@dataclass
class Settings:
    epochs: int = 2
    batch_size: int = 2048
    lr: float = 5e-3
    embedding_dim: int = 32
    hidden: tuple[int, ...] = (64,)
    output_dim: int = 32
    temperature: float = 0.05
    ssl_weight: float = 0.1
    ssl_temperature: float = 0.1
    ssl_batch_size: int = 512
    value_dropout: float = 0.1
    k: int = 50
    tail_share: float = 0.8
    extra: dict[str, Any] = field(default_factory=dict)


def load(name: str):
    from recplug_eval.datasets.movielens import MovieLensDataset
    from recplug_recsys.data import dataset_features

    ds = MovieLensDataset(name)
    split = ds.split("recbole")
    return dataset_features(ds), split


def build_model(space, s: Settings, seed: int):
    from recplug.builtins.dense_tables import DenseTables
    from recplug_recsys.model import TowerConfig, TwoTowerModel

    torch.manual_seed(seed)
    return TwoTowerModel(
        space.table_specs(space.user_features, s.embedding_dim), space.table_specs(space.item_features, s.embedding_dim),
        DenseTables(), TowerConfig(s.embedding_dim, s.hidden, s.output_dim), validate=False,
    )


def build_regularizer(pm, variant: str, model, space, train_items: np.ndarray, s: Settings):
    name, options = VARIANTS[variant]
    if name is None:
        return None
    options = {"weight": s.ssl_weight, "temperature": s.ssl_temperature, **options}
    if pm.get("regularizer", name).needs_model:
        options.update(model=model, feature_space=space, train_item_ids=train_items,
                       batch_size=s.ssl_batch_size, value_dropout=s.value_dropout)
    return pm.create("regularizer", name, **options)


class Stepper:
    """One training step of ``L_main + Σ_reg schedule(step) · Σ parts`` (as recplug-recsys's trainer does)."""

    def __init__(self, model, reg, space, train_frame, s: Settings) -> None:
        self.model, self.reg, self.space, self.s = model, reg, space, s
        self.users = torch.tensor(train_frame["user_id"].to_numpy())
        self.items = torch.tensor(train_frame["item_id"].to_numpy())
        self.opt = torch.optim.Adam(model.parameters(), lr=s.lr)
        self.step = 0

    def __call__(self, rows: torch.Tensor) -> tuple[float, float]:
        """Train on interactions ``rows`` (B); returns the step's wall and process CPU time in seconds."""
        from recplug_recsys.model import in_batch_softmax_loss

        t0, c0 = time.perf_counter(), time.process_time()
        users, items = self.users[rows], self.items[rows]
        batch = {"user_features": self.space.user_kjt(users), "item_features": self.space.item_kjt(items),
                 "user_ids": users, "item_ids": items}
        out = self.model(batch)
        loss = in_batch_softmax_loss(out["query_embeddings"], out["item_embeddings"], items, self.s.temperature)
        if self.reg is not None:
            loss = loss + self.reg.schedule(self.step) * sum(self.reg(batch, out).values())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return time.perf_counter() - t0, time.process_time() - c0


def train(model, reg, space, train_frame, s: Settings, seed: int, desc: str) -> list[float]:
    """Train in place for ``s.epochs``; returns the wall time of every step (seconds)."""
    stepper = Stepper(model, reg, space, train_frame, s)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.train()
    times = []
    for _ in tqdm(range(s.epochs), desc=desc, leave=False):
        order = torch.randperm(train_frame.height, generator=g)
        for start in range(0, len(order) - s.batch_size + 1, s.batch_size):
            times.append(stepper(order[start : start + s.batch_size])[0])
    return times


def interleaved_step_times(pm, space, split, s: Settings, variant: str, steps: int, seed: int = 0) -> dict[str, Any]:
    """Median step time of ``none`` and ``variant`` measured alternately, step by step, in one loop (so load
    changes on a shared machine hit both alike): wall time and this process's CPU time (less sensitive to
    other processes on the machine). The first 2 steps of each are warm-up."""
    train_items = split.train["item_id"].to_numpy()
    steppers = {}
    for name in ("none", variant):
        model = build_model(space, s, seed)
        steppers[name] = Stepper(model, build_regularizer(pm, name, model, space, train_items, s), space, split.train, s)
    g = torch.Generator().manual_seed(seed)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steppers}
    for _ in tqdm(range(steps + 2), desc=f"step time none vs {variant}", leave=False):
        rows = torch.randint(split.train.height, (s.batch_size,), generator=g)
        for name, stepper in steppers.items():
            times[name].append(stepper(rows))
    out: dict[str, Any] = {"variant": variant, "steps": steps}
    for clock, index in (("wall", 0), ("cpu", 1)):
        med = {name: statistics.median(t[index] for t in ts[2:]) for name, ts in times.items()}
        out |= {f"none_{clock}_ms": med["none"] * 1000, f"variant_{clock}_ms": med[variant] * 1000,
                f"{clock}_ratio": med[variant] / med["none"]}
    return out


def evaluate(model, space, split, s: Settings) -> dict[str, float]:
    """Test metrics at ``s.k`` through recplug-eval (full ranking, train + valid items excluded), overall and
    on the tail slice (items outside the top ``1 - tail_share`` by training popularity)."""
    from recplug_eval.metrics import measure_name
    from recplug_eval.recsys_metrics import full_ranking_metrics, popularity_head_mask
    from recplug_recsys.trainer import embed_all

    users, items = embed_all(model, space)
    head = popularity_head_mask(split.train, space.num_items, head_fraction=1 - s.tail_share)
    out = full_ranking_metrics(users, items, split.test, [split.train, split.valid], ks=(s.k,), head_mask=head)
    names = [measure_name(m, s.k) for m in ("R", "nDCG")]
    return {name: out[name] for name in names} | {f"{name}_tail": out[f"tail/{name}"] for name in names}


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds per (dataset, variant), with the relative change against ``none``."""
    rows = []
    keys = sorted({(r["dataset"], r["variant"]) for r in runs}, key=lambda x: (x[0], list(VARIANTS).index(x[1])))
    for dataset, variant in keys:
        group = [r for r in runs if r["dataset"] == dataset and r["variant"] == variant]
        base = [r for r in runs if r["dataset"] == dataset and r["variant"] == "none"]
        row: dict[str, Any] = {"dataset": dataset, "variant": variant, "seeds": len(group)}
        for metric in group[0]["metrics"]:
            values = [r["metrics"][metric] for r in group]
            row[metric] = (float(np.mean(values)), float(np.std(values)))
            if base:
                ref = float(np.mean([r["metrics"][metric] for r in base]))
                row[f"{metric} vs none"] = float(np.mean(values)) / ref - 1 if ref else float("nan")
        rows.append(row)
    return rows


def write_markdown(rows, timings, settings: Settings, command: str, wall_s: float, path: Path) -> None:
    metrics = [m for m in rows[0] if "@" in m and not m.endswith("vs none")]
    headers = ["dataset", "variant", "seeds", *metrics, "R@50_tail vs none", "R@50 vs none"]
    table = [[r["dataset"], r["variant"], r["seeds"], *[f"{r[m][0]:.4f} ± {r[m][1]:.4f}" for m in metrics],
              f"{100 * r.get('R@50_tail vs none', float('nan')):+.1f}%",
              f"{100 * r.get('R@50 vs none', float('nan')):+.1f}%"] for r in rows]
    timing_table = [[t["dataset"], t["variant"], t["steps"], f"{t['none_wall_ms']:.0f}", f"{t['variant_wall_ms']:.0f}",
                     f"{t['wall_ratio']:.2f}x", f"{t['none_cpu_ms']:.0f}", f"{t['variant_cpu_ms']:.0f}",
                     f"{t['cpu_ratio']:.2f}x"] for t in timings]
    text = [
        "# SSL regularization (Yao et al. 2021) on MovieLens",
        "",
        f"Commands (repository root; total wall time {wall_s:.0f} s on 2 CPU cores shared with other jobs):",
        "",
        f"    {command}",
        "",
        f"Test R/nDCG@{settings.k}, mean ± std over seeds; full ranking of all items with the user's train and "
        "valid items excluded (RecBole split RS 8:1:1). `_tail`: only test items outside the top 20% of items by "
        "training popularity (users without such items left out). Every variant trains the same "
        "recplug-recsys TwoTowerModel for the same number of steps; regularizers are built by name through the "
        "plugin manager.",
        "",
        markdown_table(headers, table),
        "",
        "Training step time (main batch + regularizer), median over steps measured alternately with `none` in one "
        "loop; CPU = this process's CPU time (both threads), less sensitive than wall time to the other jobs on the "
        "machine:",
        "",
        markdown_table(["dataset", "variant", "steps", "none wall ms", "variant wall ms", "wall ratio", "none CPU ms",
                        "variant CPU ms", "CPU ratio"], timing_table),
        "",
        f"Settings: `{json.dumps(settings.__dict__)}`",
    ]
    atomic_write_text(path, "\n".join(text) + "\n")


def command_of(args: argparse.Namespace) -> str:
    """The command line that reproduces ``args``."""
    options = [f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
               for k, v in vars(args).items() if k not in ("out", "from_log", "timing_only")]
    if args.timing_only:
        options.append("--timing-only")
    return "OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python tools/bench/ssl/bench_ssl.py " + " ".join(options)


def summarize_log(args: argparse.Namespace) -> int:
    """Write results from the JSON lines that runs printed to their logs (quality runs and step timings may
    come from separate runs, e.g. a ``--timing-only`` one)."""
    runs, timings, commands, wall = [], [], [], 0.0
    for log in args.from_log:
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if "metrics" in record:
                runs.append(record)
            elif "cpu_ratio" in record:
                timings.append(record)
            elif "command" in record:
                commands.append(record["command"])
            elif "wall_s" in record:
                wall += float(record["wall_s"])
    s = Settings(epochs=args.epochs, ssl_weight=args.ssl_weight)
    command = "\n    ".join(commands) if commands else command_of(args)
    rows = summarize(runs)
    atomic_write_json(args.out / "results.json", {"settings": s.__dict__, "commands": commands, "wall_s": wall,
                                                   "runs": runs, "summary": rows, "step_times": timings})
    write_markdown(rows, timings, s, command, wall, args.out / "results.md")
    print((args.out / "results.md").read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=Settings.epochs)
    parser.add_argument("--ssl-weight", type=float, default=Settings.ssl_weight)
    parser.add_argument("--timing-steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--timing-only", action="store_true", help="only measure the step times")
    parser.add_argument("--from-log", type=Path, nargs="+", default=None,
                        help="only summarise the JSON lines an earlier (interrupted) run printed to this log")
    args = parser.parse_args(argv)
    if args.from_log is not None:
        return summarize_log(args)
    torch.set_num_threads(2)
    started = time.perf_counter()
    print(json.dumps({"command": command_of(args)}), flush=True)
    s = Settings(epochs=args.epochs, ssl_weight=args.ssl_weight)
    pm = load_plugin_manager()
    runs, timings = [], []
    for dataset in args.datasets:
        space, split = load(dataset)
        train_items = split.train["item_id"].to_numpy()
        for seed in [] if args.timing_only else args.seeds:
            for variant in args.variants:
                model = build_model(space, s, seed)
                reg = build_regularizer(pm, variant, model, space, train_items, s)
                times = train(model, reg, space, split.train, s, seed, f"{dataset} s{seed} {variant}")
                run = {"dataset": dataset, "seed": seed, "variant": variant, "metrics": evaluate(model, space, split, s),
                       "median_step_s": statistics.median(times), "steps": len(times)}
                print(json.dumps(run), flush=True)
                runs.append(run)
        for variant in ("ssl-cfm", "ssl-rfm"):
            if args.timing_steps > 0:
                timing = {"dataset": dataset, **interleaved_step_times(pm, space, split, s, variant, args.timing_steps)}
                print(json.dumps(timing), flush=True)
                timings.append(timing)
    wall = time.perf_counter() - started
    print(json.dumps({"wall_s": wall}), flush=True)
    if args.timing_only:
        return 0
    rows = summarize(runs)
    command = command_of(args)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "results.json", {"settings": s.__dict__, "command": command, "wall_s": wall,
                                                   "runs": runs, "summary": rows, "step_times": timings})
    write_markdown(rows, timings, s, command, wall, args.out / "results.md")
    print((args.out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
