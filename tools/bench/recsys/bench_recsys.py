"""Benchmarks of the two-tower recommender (recplug-recsys); results merge into results.json / results.md.

Sections (each a sub-command; run them one at a time, with ``nice -n 10``):

* ``quality``: ``recplug train`` on MovieLens (RecBole split), test R@10 / nDCG@10 / RR@10 of the best
  validation epoch, next to RecBole's BPR measured on this machine by the lead (issue 4).
* ``tables``: training throughput (examples/s) of the same model with torchrec's
  ``EmbeddingBagCollection`` (the core's ``dense`` compressor) and with plain ``torch.nn.EmbeddingBag``
  modules; same batches, steps interleaved in rounds so both see the same machine load.
* ``processes``: throughput of 1 process (unsharded and ``table_wise`` DMP) and 2 processes
  (``torchrun --nproc_per_node 2``, gloo, ``table_wise``), each a short ``recplug train`` run.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_recsys.py quality --epochs 6
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_recsys.py tables --steps 48
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/recsys/bench_recsys.py processes --steps 16

One torch thread per process is ~10x faster than two on these shared cores (threads spin-wait).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from recplug.protocols import CompressorCapabilities

TMP = Path(tempfile.gettempdir())  # default scratch folder of the runs

HERE = Path(__file__).resolve().parent
#: folder of results.json / results.md that every recsys script merges into (``--results-dir``; nox -s bench
#: points it at a temporary folder so that quick runs leave the committed results alone)
RESULTS_DIR = HERE
BPR_REFERENCE = {"R@10": 0.2466, "nDCG@10": 0.2928, "RR@10": 0.4895}

QUALITY_SETTINGS = [
    "model.log_q=true", "batch_size=1024", "model.embedding_dim=64", "model.hidden=[128]", "model.output_dim=64",
    "progress=false", "eval_ks=[10,20,50]",
]


def cpu_model() -> str:
    """The CPU model of this machine, recorded with every figure."""
    from recplug_eval import cpu_model as model

    return model()


def add_results_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results-dir", type=Path, default=HERE,
                        help="folder of the results.json / results.md to merge into (default: this folder)")


def use_results_dir(folder: Path) -> None:
    """Make :func:`_load` / :func:`_save` read and write ``folder``."""
    global RESULTS_DIR
    RESULTS_DIR = Path(folder)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)


def _load() -> dict[str, Any]:
    path = RESULTS_DIR / "results.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save(section: str, value: Any) -> None:
    from recplug.fileio import atomic_write_json, atomic_write_text

    data = _load()
    data[section] = value
    data["machine"] = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "cpu": cpu_model(),
                       "note": "2 shared CPU cores, several other jobs running; absolute speeds are low, ratios matter"}
    atomic_write_json(RESULTS_DIR / "results.json", data)
    atomic_write_text(RESULTS_DIR / "results.md", render(data))


# --------------------------------------------------------------------------------------------- quality
def run_quality(args: argparse.Namespace) -> None:
    from recplug_recsys.config import load_config
    from recplug_recsys.trainer import Trainer

    scratch = f'output_dir="{args.out}/{args.dataset}"'  # this machine's scratch folder: used, not recorded
    overrides = [*QUALITY_SETTINGS, f"epochs={args.epochs}", f"data.dataset={args.dataset}", scratch, "resume=true",
                 *args.set]
    config = load_config(None, overrides)
    overrides.remove(scratch)
    start = time.perf_counter()
    result = Trainer(config).fit()
    data = _load().get("quality", {})
    data[args.dataset] = {
        "test": {k: v for k, v in result["test"].items() if k.split("@")[-1] in ("10", "20", "50") or "num" in k},
        "best_epoch": result["best_epoch"], "epochs": args.epochs, "overrides": overrides,
        "examples_per_second": result["examples_per_second"], "wall_seconds": time.perf_counter() - start,
        "cpu": cpu_model(),
        "command": " ".join([f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} nice -n 10 .venv/bin/python "
                             "tools/bench/recsys/bench_recsys.py quality",
                             f"--dataset {args.dataset} --epochs {args.epochs}",
                             *[f"--set {s}" for s in args.set]]),
    }
    _save("quality", data)


# ---------------------------------------------------------------------------------------------- tables
class PlainBags:
    """The same tables as plain ``torch.nn.EmbeddingBag`` modules behind the EBC interface (KJT -> KeyedTensor)."""

    name = "plain-embedding-bag"
    capabilities = CompressorCapabilities()

    def build(self, tables: Any) -> Any:
        import torch
        from torchrec.sparse.jagged_tensor import KeyedTensor

        class Bags(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.tables = list(tables)
                self.bags = torch.nn.ModuleDict({
                    t.name: torch.nn.EmbeddingBag(t.num_embeddings, t.embedding_dim, mode=t.pooling)
                    for t in tables})

            def forward(self, kjt: Any) -> Any:
                parts, keys, dims = [], [], []
                jagged = kjt.to_dict()
                for t in self.tables:
                    for f in t.feature_names:
                        jt = jagged[f]
                        parts.append(self.bags[t.name](jt.values(), jt.offsets()[:-1].long()))
                        keys.append(f)
                        dims.append(t.embedding_dim)
                return KeyedTensor(keys=keys, length_per_key=dims, values=torch.cat(parts, dim=1))

        return Bags()

    def attach_optimizer(self, optimizer: Any) -> None:
        """Nothing to do: plain bags keep no optimizer state of their own."""

    def after_optimizer_step(self, module: Any, step: int) -> dict[str, float]:
        return {}


def run_tables(args: argparse.Namespace) -> None:
    import torch
    from recplug.manager import load_plugin_manager
    from recplug_recsys.config import load_config
    from recplug_recsys.trainer import Trainer

    torch.set_num_threads(args.threads)
    pm = load_plugin_manager()
    overrides = [*QUALITY_SETTINGS, f"batch_size={args.batch_size}", "epochs=1", f'output_dir="{TMP / "recsys-bench"}"']
    trainers = {}
    for label, compressor in (("torchrec EmbeddingBagCollection", None), ("torch.nn.EmbeddingBag", PlainBags())):
        trainer = Trainer(load_config(None, overrides), pm)
        if compressor is not None:  # same initial weights, tables rebuilt as plain bags
            state = trainer.model.state_dict()
            trainer.compressor = compressor
            trainer.model = type(trainer.model)(trainer.inner.user_tables, trainer.inner.item_tables, compressor,
                                                trainer.inner.config)
            trainer.model.load_state_dict({k.replace("embedding_bags.", "bags."): v for k, v in state.items()})
            trainer._build_optimizers()
        trainer.inner.validate = False
        trainers[label] = trainer
    users, items = next(iter(trainers.values())).data.train_pairs
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(users), (args.batch_size,), generator=generator) for _ in range(args.steps)]
    seconds = {label: 0.0 for label in trainers}
    losses: dict[str, list[float]] = {label: [] for label in trainers}
    for trainer in trainers.values():  # warm-up
        trainer.train_step(users[batches[0]], items[batches[0]])
    rounds = [batches[i : i + args.round] for i in range(0, len(batches), args.round)]
    for chunk in rounds:
        for label, trainer in trainers.items():
            start = time.perf_counter()
            for rows in chunk:
                losses[label].append(trainer.train_step(users[rows], items[rows])["loss/main"])
            seconds[label] += time.perf_counter() - start
    result = {label: {"examples_per_second": args.steps * args.batch_size / seconds[label],
                      "seconds": seconds[label], "final_loss": losses[label][-1]} for label in trainers}
    names = list(trainers)
    result["ratio_torchrec_over_plain"] = result[names[0]]["examples_per_second"] / result[names[1]]["examples_per_second"]
    result["max_loss_difference"] = max(abs(a - b) for a, b in zip(losses[names[0]], losses[names[1]], strict=True))
    result["settings"] = {"batch_size": args.batch_size, "steps": args.steps, "round": args.round,
                          "threads": args.threads,
                          "command": f"nice -n 10 .venv/bin/python tools/bench/recsys/bench_recsys.py tables "
                                     f"--steps {args.steps} --batch-size {args.batch_size} --round {args.round} "
                                     f"--threads {args.threads}"}
    _save("tables", result)


# ------------------------------------------------------------------------------------------- processes
def run_processes(args: argparse.Namespace) -> None:
    recplug = str(Path(sys.executable).with_name("recplug"))
    common = ["train", "--set", "epochs=1", "--set", f"max_steps_per_epoch={args.steps}", "--set",
              f"batch_size={args.batch_size}", "--set", "progress=false", "--set", "resume=false",
              "--set", "model.log_q=true"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {
        "1 process, unsharded": ([recplug], ["--set", "sharding=none"]),
        "1 process, table_wise DMP": ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                       "--nproc_per_node=1", "--no-python", recplug], ["--set", "sharding=table_wise"]),
        "2 processes, table_wise DMP": ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                         "--nproc_per_node=2", "--no-python", recplug],
                                        ["--set", "sharding=table_wise"]),
    }
    result: dict[str, Any] = {}
    for label, (launcher, extra) in runs.items():
        out = Path(args.out) / label.replace(" ", "_").replace(",", "")
        proc = subprocess.run([*launcher, *common, *extra, "--output-dir", str(out)], capture_output=True, text=True,
                              env=env, check=False)
        if proc.returncode:
            raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
        result[label] = {"examples_per_second": metrics["examples_per_second"], "world_size": metrics["world_size"],
                         "test_R@10": metrics["test"]["R@10"]}
    base = result["1 process, unsharded"]["examples_per_second"]
    result["ratio_2proc_over_1proc_unsharded"] = result["2 processes, table_wise DMP"]["examples_per_second"] / base
    result["ratio_2proc_over_1proc_table_wise"] = (
        result["2 processes, table_wise DMP"]["examples_per_second"]
        / result["1 process, table_wise DMP"]["examples_per_second"])
    result["settings"] = {"steps": args.steps, "batch_size": args.batch_size, "OMP_NUM_THREADS": 1,
                          "command": f"nice -n 10 .venv/bin/python tools/bench/recsys/bench_recsys.py processes "
                                     f"--steps {args.steps} --batch-size {args.batch_size}"}
    _save("processes", result)


# ---------------------------------------------------------------------------------------------- report
def render(data: dict[str, Any]) -> str:
    from recplug_eval import markdown_table

    lines = ["# recplug-recsys benchmarks", "",
             "Machine: 2 CPU cores shared with other jobs (load average 10-15 during these runs); every "
             "number below was measured here with the command shown. Throughputs compare peers run side by side.", ""]
    quality = data.get("quality", {})
    if quality:
        lines += ["## Quality: MovieLens, RecBole split (RS 8:1:1 by user, seed 2020), full ranking", ""]
        rows = [["BPR (RecBole, measured by the lead, issue 4)", "ml-100k", BPR_REFERENCE["R@10"],
                 BPR_REFERENCE["nDCG@10"], BPR_REFERENCE["RR@10"], "", ""]]
        for name, q in quality.items():
            t = q["test"]
            rows.append(["two-tower (recplug train)", name, t["R@10"], t["nDCG@10"], t["RR@10"],
                         f"{t['head/R@10']:.4f} / {t['tail/R@10']:.4f}", f"{q['best_epoch']}/{q['epochs']}"])
        lines += [markdown_table(["model", "data", "R@10", "nDCG@10", "RR@10", "head / tail R@10",
                                  "best epoch"], rows), "",
                  "The same numbers from the command line (defaults: E=D=64, MLP [128], batch 1024, Adagrad tables "
                  "lr 0.05, Adam MLPs lr 1e-3, temperature 0.05; best epoch by validation RR@10 as in RecBole):",
                  "`OMP_NUM_THREADS=1 recplug train --set model.log_q=true --set epochs=6 "
                  "--set data.dataset=ml-100k --output-dir runs/ml-100k` (ml-1m: `epochs=8`).", ""]
        for name, q in quality.items():
            t = q["test"]
            lines += [f"{name}: R@20 {t['R@20']:.4f}, nDCG@20 {t['nDCG@20']:.4f}, R@50 "
                      f"{t['R@50']:.4f}, nDCG@50 {t['nDCG@50']:.4f}; {q['examples_per_second']:.0f} "
                      f"examples/s; CPU: {q.get('cpu', 'not recorded (an earlier session)')}; command: "
                      f"`{q['command']}` (settings: {' '.join(q['overrides'])})", ""]
    tables = data.get("tables")
    if tables:
        names = [k for k in tables if isinstance(tables[k], dict) and "examples_per_second" in tables[k]]
        lines += ["## Training throughput: torchrec EmbeddingBagCollection vs plain torch.nn.EmbeddingBag", "",
                  markdown_table(["tables", "examples/s", "seconds"],
                                 [[n, f"{tables[n]['examples_per_second']:.0f}", f"{tables[n]['seconds']:.1f}"]
                                  for n in names]), "",
                  f"Ratio torchrec / plain: {tables['ratio_torchrec_over_plain']:.2f}. Same initial weights and "
                  f"batches; largest loss difference over the run {tables['max_loss_difference']:.2e}. "
                  f"Command: `{tables['settings']['command']}`.", ""]
    processes = data.get("processes")
    if processes:
        names = [k for k in processes if isinstance(processes[k], dict) and "examples_per_second" in processes[k]]
        lines += ["## Training throughput: 2 processes (torchrun, gloo) vs 1", "",
                  markdown_table(["run", "examples/s (all ranks)"],
                                 [[n, f"{processes[n]['examples_per_second']:.0f}"] for n in names]), "",
                  f"Ratio 2 processes / 1 process unsharded: {processes['ratio_2proc_over_1proc_unsharded']:.2f}; "
                  f"/ 1 process table_wise: {processes['ratio_2proc_over_1proc_table_wise']:.2f}. On 2 shared "
                  f"cores the second process competes for the same CPUs. "
                  f"Command: `{processes['settings']['command']}`.", ""]
    lines += render_schema_sections(data)
    return "\n".join(lines)


def _mean_std(row: dict[str, Any], key: str) -> str:
    return f"{row['test_mean'][key]:.4f} ± {row['test_std'][key]:.4f}"


def render_schema_sections(data: dict[str, Any]) -> list[str]:
    """Markdown of the sections written by bench_baselines.py, bench_tune.py and bench_scale.py."""
    from recplug_eval import markdown_table

    lines: list[str] = []
    baselines, tuned = data.get("baselines", {}), data.get("two_tower_tuned", {})
    if baselines or tuned:
        lines += ["## Reference rows: implicit ALS / BPR and the two-tower, each tuned on validation only", "",
                  "Same RecBole split (8:1:1 per user, seed 2020) and full ranking (training and validation items "
                  "excluded); each model's setting chosen by validation R@20 on its grid, then rerun with seeds "
                  "0, 1, 2: test mean ± standard deviation over the seeds.", ""]
        rows = []
        for dataset in ("ml-100k", "ml-1m"):
            for kind, label in (("als", "ALS (implicit 0.7.3)"), ("bpr", "BPR (implicit 0.7.3)")):
                row = baselines.get(f"{kind}/{dataset}")
                if row:
                    rows.append([label, dataset, _mean_std(row, "R@10"), _mean_std(row, "R@20"),
                                 _mean_std(row, "nDCG@20"), _mean_std(row, "tail/R@20"),
                                 json.dumps(row["best_params"])])
            row = tuned.get(dataset)
            if row:
                rows.append(["two-tower with features (recplug train)", dataset, _mean_std(row, "R@10"),
                             _mean_std(row, "R@20"), _mean_std(row, "nDCG@20"), _mean_std(row, "tail/R@20"),
                             json.dumps(row["best_setting"]) + f", {row['epochs']} epochs, best epochs "
                             f"{row['best_epochs']}"])
        lines += [markdown_table(["model", "data", "R@10", "R@20", "nDCG@20", "tail R@20",
                                  "setting (tuned on validation)"], rows), ""]
        for name, row in [*baselines.items(), *tuned.items()]:
            lines += [f"- {name}: `{row['command']}` ({row.get('cpu', '')}; grid {json.dumps(row['grid'])})"]
        lines += [""]
    scale = data.get("scale", {})
    features = scale.get("features")
    if features:
        s = features["settings"]
        lines += ["## Schema-built features vs the hand-written MovieLens features they replaced", "",
                  markdown_table(["features", "examples/s", "seconds"],
                                 [[n, f"{features[n]['examples_per_second']:.0f}", f"{features[n]['seconds']:.1f}"]
                                  for n in ("schema", "hand-written")]), "",
                  f"{s['dataset']}, the same two-tower and batches, {s['rounds']} alternating rounds of "
                  f"{s['steps_per_round']} steps of {s['batch_size']}: ratio schema / hand-written "
                  f"{features['ratio_schema_over_hand_written']:.2f}; largest loss difference over the run "
                  f"{features['max_loss_difference']:.1e} (identical KJTs). Hand-written: `{s['legacy']}` from git "
                  f"history. CPU: {s['cpu']}. Command: `{s['command']}`.", ""]
    large = scale.get("large")
    if large:
        t = large["test"]
        lines += ["## A generated dataset of 10M interactions, 1M users, 1M items, through the same code as `recplug train`",
                  "", f"Data: {large['dataset']} — labelled as generated, not real. "
                  f"{large['interactions']:,} interactions, {large['users']:,} users, {large['items']:,} items, "
                  f"tables {json.dumps(large['tables'])}.", "",
                  markdown_table(["stage", "value"], [
                      ["generate the parquet files (s)", f"{large['generate_s']:.0f}" if large["generate_s"] >= 1
                       else "reused (written by an earlier run of the same command)"],
                      ["load, split, fit the schema, build the model (s)", f"{large['load_split_fit_build_s']:.0f}"],
                      [f"train {large['steps']} steps of {large['batch_size']} + evaluate (s)",
                       f"{large['train_and_evaluate_s']:.0f}"],
                      ["training examples/s (1 thread; another benchmark ran on the other core)",
                       f"{large['examples_per_second']:.0f}"],
                      ["peak resident memory (GiB)", f"{large['peak_rss_gib']:.1f}"],
                      [f"test R@20 / nDCG@20 ({large['eval_users']} sampled users, all items ranked)",
                       f"{t['R@20']:.4f} / {t['nDCG@20']:.4f}"]]), "",
                  f"CPU: {large['cpu']}. Command: `{large['command']}`.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_results_dir_argument(parser)
    sub = parser.add_subparsers(dest="section", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--dataset", default="ml-100k")
    q.add_argument("--epochs", type=int, default=8)
    q.add_argument("--set", action="append", default=[])
    q.add_argument("--out", default=str(TMP / "recsys-bench-quality"))
    t = sub.add_parser("tables")
    t.add_argument("--steps", type=int, default=24)
    t.add_argument("--batch-size", type=int, default=1024)
    t.add_argument("--round", type=int, default=4)
    t.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on the shared cores)")
    p = sub.add_parser("processes")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--out", default=str(TMP / "recsys-bench-processes"))
    args = parser.parse_args()
    use_results_dir(args.results_dir)
    {"quality": run_quality, "tables": run_tables, "processes": run_processes}[args.section](args)


if __name__ == "__main__":
    main()
