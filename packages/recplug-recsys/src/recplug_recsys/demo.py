"""The recommender section of ``recplug demo`` (entry point group ``recplug.demo``), and the records with which
plugins add variants of the demo's two-tower to it.

The ``recsys`` step trains the two-tower baseline on MovieLens-100K (RecBole split, log-Q) and every variant that
an installed plugin's demo step declares (a :func:`variant_step` holding :class:`RecsysVariant` records: SSL-CFM,
DSL at 20% density, ...), each with :data:`DEMO_SEEDS` seeds and each to its validation peak (early stopping on
validation R@20 with patience :data:`DEMO_PATIENCE`, at most :data:`DEMO_EPOCHS` epochs). The runs share one pool
of processes, one thread each (on 2 cores two 1-thread runs finish sooner than one 2-thread run after another:
this model's step does not scale to two threads, ``tools/bench/recsys``). The step shows ONE table, mean ± std over
the seeds of R@20, head / tail R@20, nDCG@20 and the serving bytes of the tables, a plot of the same with the
seed spread, and a sentence per variant saying which differences from the baseline exceed the seed spread.

A variant's own step then states its comparison (and what is particular to it, e.g. DSL's serving bytes) from
those same runs; run without the ``recsys`` step (``recplug demo --only ssl``) it trains the baseline and its
variants itself and shows their table. Why one step trains every variant: the baseline appears once, beside the
variants it is compared with, and the runs of all variants fill one pool (9 runs on 2 workers leave at most one
worker idle at the end; three pools of 3 runs would each leave one idle).

A difference counts as beyond the seed noise when the two ``mean ± std`` ranges do not overlap
(``|Δ| > std_baseline + std_variant``); otherwise the report says it is within noise.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the epoch cap of every demo run (early stopping usually ends a run well before it)
DEMO_EPOCHS = 12
#: epochs in a row without a new best validation value that end a demo run
DEMO_PATIENCE = 2
DEMO_K = 20
#: validation measure that picks each run's best epoch (and drives early stopping)
SELECT_METRIC = "R@20"
DEMO_SEEDS = (0, 1, 2)
BASELINE = "two-tower"
#: the demo's model and data (``TrainConfig`` field names); the SSL benchmarks train over these too
DEMO_SETTINGS: dict[str, Any] = {
    "data": {"dataset": "ml-100k"},
    "model": {"log_q": True},
    "epochs": DEMO_EPOCHS,
    "eval_ks": [10, 20, 50],
    "resume": False,
    "progress": False,
}
#: what the demo adds to :data:`DEMO_SETTINGS`: train each run to its validation peak
STOPPING: dict[str, Any] = {"patience": DEMO_PATIENCE, "select_metric": SELECT_METRIC}
#: the measures of the table and plot: (results key, label)
MEASURES = ((f"R@{DEMO_K}", f"R@{DEMO_K}"), (f"head/R@{DEMO_K}", f"head R@{DEMO_K}"),
            (f"tail/R@{DEMO_K}", f"tail R@{DEMO_K}"), (f"nDCG@{DEMO_K}", f"nDCG@{DEMO_K}"))
DATA_NOTE = ("MovieLens-100K, RecBole split 8:1:1, log-Q correction; full ranking with training and validation items "
             "excluded; head = the top 20% of items by training interactions, tail = the rest")


@dataclass(frozen=True)
class RecsysVariant:
    """A variant of the demo's two-tower that a plugin's demo step trains beside the baseline.

    Attributes:
        name: its row in the table (``ssl-cfm``, ``dsl-20%``).
        settings: ``TrainConfig`` fields merged over the demo's (e.g. ``{"regularizers": [{"name": "ssl-cfm"}]}``).
        summary: what differs from the baseline, in a phrase (``SSL-CFM regularizer, α = 0.1, τ = 0.05``).
        commands: the benchmark commands that measured this variant at full length (shown in the report).
    """

    name: str
    settings: Mapping[str, Any]
    summary: str
    commands: Sequence[str] = ()


@dataclass(frozen=True)
class DemoScale:
    """How much the demo trains: ``seeds`` per run, ``workers`` processes (``None``: one per available core),
    and ``overrides`` merged over every run's settings last (the tests shrink the runs with it)."""

    seeds: tuple[int, ...] = DEMO_SEEDS
    workers: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)


SCALE = DemoScale()
#: runs trained in this process, by demo output folder: a variant step reuses the ``recsys`` step's runs
_TRAINED: dict[str, dict[str, Any]] = {}


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def train_variant(context: Any, name: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train the demo's two-tower with ``settings`` merged over :data:`DEMO_SETTINGS` (no early stopping: the SSL
    benchmarks train fixed lengths with it) into ``<context.output_dir>/recsys/<name>``; returns ``metrics.json``
    plus ``seconds``."""
    import torch
    from recplug.fileio import atomic_write_json

    from recplug_recsys.config import TrainConfig, from_dict
    from recplug_recsys.trainer import Trainer

    torch.set_num_threads(1)  # measured fastest for this model on 2 cores (tools/bench/recsys)
    output_dir = Path(context.output_dir) / "recsys" / name
    config = from_dict(TrainConfig, _merge(DEMO_SETTINGS, {**(settings or {}), "output_dir": str(output_dir)}))
    start = time.perf_counter()
    result = Trainer(config, pm=context.pm).fit()
    result["seconds"] = time.perf_counter() - start
    atomic_write_json(output_dir / "metrics.json", result)
    return result


def run_settings(settings: Mapping[str, Any], seed: int, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A demo run's ``TrainConfig`` fields: :data:`DEMO_SETTINGS`, :data:`STOPPING`, the variant's ``settings``,
    the seed, then ``overrides``."""
    return _merge(_merge(_merge(DEMO_SETTINGS, STOPPING), {**settings, "seed": seed}), overrides or {})


def train_seed(run_dir: str | Path, settings: Mapping[str, Any], threads: int = 1, pm: Any = None) -> dict[str, Any]:
    """Train one run (``settings``: all its ``TrainConfig`` fields but ``output_dir``) into ``run_dir``, export its
    best model for serving; returns ``metrics.json`` plus ``seconds`` (wall, setup included), ``cpu_seconds`` (this
    process's CPU time: about the wall time of an idle core with one thread), ``train_seconds`` (the epochs only), ``serving_bytes`` (of the exported user and item tables) and ``peak_reached`` (the best
    epoch is not the last one trained)."""
    import torch
    from recplug.fileio import atomic_write_json, read_json
    from recplug.manager import load_plugin_manager

    from recplug_recsys.config import TrainConfig, from_dict
    from recplug_recsys.export import export_run
    from recplug_recsys.trainer import Trainer

    torch.set_num_threads(threads)
    pm = pm or load_plugin_manager()
    run_dir = Path(run_dir)
    start, cpu = time.perf_counter(), time.process_time()
    trainer = Trainer(from_dict(TrainConfig, {**settings, "output_dir": str(run_dir)}), pm=pm)
    result = trainer.fit()
    result["seconds"], result["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu
    result["train_seconds"] = sum(row["seconds"] for row in trainer.history)
    result["peak_reached"] = result["best_epoch"] < result["epochs_run"]
    version = export_run(run_dir, run_dir / "export", pm)
    served = read_json(version / "manifest.json")["serving_bytes"]
    result["serving_bytes"] = int(served["user"]) + int(served["item"])
    atomic_write_json(run_dir / "metrics.json", result)
    return result


def _train_job(job: tuple[str, str, int, dict[str, Any], int]) -> tuple[str, int, dict[str, Any]]:
    """Process-pool entry: ``(name, run_dir, seed, settings, threads) -> (name, seed, result)``."""
    name, run_dir, seed, settings, threads = job
    return name, seed, train_seed(run_dir, settings, threads)


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_count(scale: DemoScale, jobs: int) -> int:
    """Processes for ``jobs`` runs: ``scale.workers`` (default: one per available core), at most one per run."""
    return max(1, min(scale.workers or available_cores(), jobs))


def train_runs(output_dir: str | Path, runs: Mapping[str, Mapping[str, Any]], scale: DemoScale, pm: Any = None,
               ) -> dict[str, dict[int, dict[str, Any]]]:
    """Train every run (name -> variant settings) with every seed of ``scale`` into ``output_dir/<name>/seed-<s>``:
    in ``scale.workers`` processes of ``cores // workers`` threads each (one worker: here, with ``pm``); returns
    ``{name: {seed: result}}`` (see :func:`train_seed`)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from recplug_eval.progress import progress

    cores = available_cores()
    # the variants' runs first: a regularizer or compressor makes them the longer ones, so the pool ends on short runs
    order = sorted(runs, key=lambda name: name == BASELINE)
    jobs = [(name, str(Path(output_dir) / name / f"seed-{seed}"), seed, run_settings(runs[name], seed, scale.overrides))
            for name in order for seed in scale.seeds]
    workers = worker_count(scale, len(jobs))
    threads = max(1, cores // workers)
    out: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in runs}
    with progress(total=len(jobs), desc=f"recsys: {len(jobs)} runs, {workers} at a time", unit="run") as bar:
        if workers == 1:
            for name, run_dir, seed, settings in jobs:
                out[name][seed] = train_seed(run_dir, settings, threads, pm)
                bar.update(1)
        else:  # spawn: the parent may already run OpenMP threads (MiniLM), which fork does not survive
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_train_job, (*job, threads)) for job in jobs]
                for future in as_completed(futures):
                    name, seed, result = future.result()
                    out[name][seed] = result
                    bar.update(1)
    return {name: dict(sorted(seeds.items())) for name, seeds in out.items()}


# ------------------------------------------------------------------------------------------- numbers
def summarise(per_seed: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Mean, std (sample, 0 for one seed), min and max over seeds of each :data:`MEASURES` test value and of the
    serving bytes, with the per-seed values, best epochs and epochs run."""
    seeds = sorted(per_seed)
    out: dict[str, Any] = {"seeds": seeds, "measures": {}}
    for key, _ in MEASURES:
        values = [float(per_seed[s]["test"][key]) for s in seeds]
        out["measures"][key] = {
            "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "per_seed": values,
        }
    out["serving_bytes"] = statistics.fmean(per_seed[s]["serving_bytes"] for s in seeds)
    out["best_epoch"] = [per_seed[s]["best_epoch"] for s in seeds]
    out["epochs_run"] = [per_seed[s]["epochs_run"] for s in seeds]
    out["peak_reached"] = [bool(per_seed[s]["peak_reached"]) for s in seeds]
    out["stopped_early"] = [bool(per_seed[s].get("stopped_early", True)) for s in seeds]
    out["seconds"] = [per_seed[s]["seconds"] for s in seeds]
    out["cpu_seconds"] = [per_seed[s].get("cpu_seconds", math.nan) for s in seeds]
    out["train_seconds_per_epoch"] = [per_seed[s]["train_seconds"] / max(per_seed[s]["epochs_run"], 1) for s in seeds]
    return out


def compare(baseline: Mapping[str, Any], variant: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per measure: ``diff`` (variant − baseline means), ``relative`` (diff / baseline mean), ``noise``
    (``std_baseline + std_variant``) and ``beyond_noise`` (``|diff| > noise``; ``None`` with fewer than two
    seeds on either side: no spread to judge by). Arguments are :func:`summarise` outputs."""
    out = {}
    enough = len(baseline["seeds"]) > 1 and len(variant["seeds"]) > 1
    for key, _ in MEASURES:
        b, v = baseline["measures"][key], variant["measures"][key]
        diff = v["mean"] - b["mean"]
        noise = b["std"] + v["std"]
        out[key] = {"diff": diff, "relative": diff / b["mean"] if b["mean"] else math.nan, "noise": noise,
                    "beyond_noise": abs(diff) > noise if enough else None}
    return out


def _delta(key: str, c: Mapping[str, Any]) -> str:
    label = dict(MEASURES)[key]
    relative = f" ({c['relative']:+.1%})" if math.isfinite(c["relative"]) else ""
    return f"{label} {c['diff']:+.4f}{relative}"


def comparison_sentence(name: str, comparison: Mapping[str, Mapping[str, Any]], baseline: str = BASELINE) -> str:
    """One plain sentence: which differences of ``name`` from ``baseline`` exceed the seed spread and which are
    within noise (``comparison``: :func:`compare`'s output)."""
    if any(c["beyond_noise"] is None for c in comparison.values()):
        parts = "; ".join(_delta(k, c) for k, c in comparison.items())
        return f"{name} vs {baseline}: {parts}; one seed only, so there is no seed spread to judge these by."
    beyond = [_delta(k, c) + f" against a spread of {c['noise']:.4f}" for k, c in comparison.items() if c["beyond_noise"]]
    within = [_delta(k, c) + f" against {c['noise']:.4f}" for k, c in comparison.items() if not c["beyond_noise"]]
    sentence = f"{name} vs {baseline}: "
    if beyond:
        sentence += f"{'; '.join(beyond)}: more than the seed spread"
        sentence += f"; {'; '.join(within)}: within noise." if within else "."
    else:
        sentence += f"every difference is within noise ({'; '.join(within)})."
    return sentence


def noise_caveat(name: str, comparison: Mapping[str, Mapping[str, Any]], baseline: str = BASELINE) -> str | None:
    """A caveat when some differences of ``name`` from ``baseline`` are within the seed spread (``None`` if none)."""
    within = [dict(MEASURES)[k] for k, c in comparison.items() if not c["beyond_noise"]]
    if not within:
        return None
    if len(within) == len(comparison):
        return f"{name}: every difference from {baseline} is within the seed spread (noise)."
    return f"{name}: the differences from {baseline} in {', '.join(within)} are within the seed spread (noise)."


def peak_caveats(name: str, summary: Mapping[str, Any]) -> list[str]:
    """One caveat per seed whose best epoch is its last one (training stopped before the validation peak), or
    that the epoch cap ended before patience ran out (a later peak is possible)."""
    out = []
    for seed, best, run, ok, early in zip(summary["seeds"], summary["best_epoch"], summary["epochs_run"],
                                          summary["peak_reached"], summary["stopped_early"], strict=True):
        if not ok:
            out.append(f"{name}, seed {seed}: its best epoch ({best}) is its last: the validation peak was not "
                       f"reached within the cap of {run} epochs.")
        elif not early:
            out.append(f"{name}, seed {seed}: the cap of {run} epochs ended it {run - best} epoch(s) after its best, "
                       f"before the patience of {DEMO_PATIENCE} ran out: a later, higher peak is possible.")
    return out


# ------------------------------------------------------------------------------------------- report parts
def results_table(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown: one row per run, ``mean ± std`` over seeds of each measure, serving MB, best / run epochs per
    seed (``!`` marks a seed whose best epoch is its last), and training seconds per epoch."""
    from recplug_eval import markdown_table

    base_bytes = summaries[BASELINE]["serving_bytes"] if BASELINE in summaries else None
    rows = []
    for name, s in summaries.items():
        cells = [f"{m['mean']:.4f} ± {m['std']:.4f}" for m in (s["measures"][k] for k, _ in MEASURES)]
        ratio = f" ({s['serving_bytes'] / base_bytes:.2f}×)" if base_bytes and name != BASELINE else ""
        epochs = ", ".join(f"{b}/{r}" + ("" if early else " cap") + ("" if ok else " !") for b, r, ok, early
                           in zip(s["best_epoch"], s["epochs_run"], s["peak_reached"], s["stopped_early"], strict=True))
        rows.append([name, str(len(s["seeds"])), *cells, f"{s['serving_bytes'] / 1e6:.3f}{ratio}", epochs,
                     f"{statistics.fmean(s['train_seconds_per_epoch']):.1f}"])
    headers = ["run", "seeds", *(f"{label} (mean ± std)" for _, label in MEASURES), "serving MB",
               "best / run epochs per seed", "train s / epoch (wall)"]
    return markdown_table(headers, rows)


def plot_summaries(summaries: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """One panel per measure (each with its own y range, so small differences show): per run its mean over seeds
    (marker), ± one std (error bar) and each seed (small dots); runs named in a legend below, not on the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from recplug.fileio import atomic_save_with

    names = list(summaries)
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(2.6 * len(MEASURES) + 1, 3.6), layout="constrained")
    for ax, (key, label) in zip(axes, MEASURES, strict=True):
        for i, name in enumerate(names):
            m = summaries[name]["measures"][key]
            ax.errorbar([i], [m["mean"]], yerr=[m["std"]], fmt="os"[i % 2], color=f"C{i % 10}", markersize=7,
                        capsize=4, label=f"{name} ({len(summaries[name]['seeds'])} seeds)")
            ax.scatter([i + 0.18] * len(m["per_seed"]), m["per_seed"], s=12, color=f"C{i % 10}", alpha=0.7)
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.margins(y=0.25)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("test value")
    fig.suptitle("MovieLens-100K test at each run's best validation epoch: mean ± std over seeds, dots = seeds")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=min(len(names), 4), frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path


def train_command(name: str, settings: Mapping[str, Any], seed: int) -> str:
    """The ``recplug train`` command line of one demo run (``seed``; repeat with the others)."""

    def flat(prefix: str, value: Any) -> list[str]:
        if isinstance(value, Mapping) and value:
            return [item for k, v in value.items() for item in flat(f"{prefix}.{k}" if prefix else k, v)]
        return [f"{prefix}={value if isinstance(value, str) else json.dumps(value)}"]

    items = flat("", {k: v for k, v in run_settings(settings, seed).items() if k not in ("resume", "progress")})
    return " ".join(["recplug train", *(f"--set {shlex.quote(i)}" for i in items),
                     f"--set output_dir=runs/{shlex.quote(name)}-seed{seed}"])


def installed_variants(pm: Any) -> list[RecsysVariant]:
    """The :class:`RecsysVariant` s of every loaded plugin's demo steps (:func:`variant_step`)."""
    from recplug_eval.demo import discover_steps

    return [v for loaded in discover_steps(pm) if isinstance(loaded.step.run, VariantRun) for v in loaded.step.run.variants]


def train_group(context: Any, variants: Sequence[RecsysVariant], scale: DemoScale | None = None) -> dict[str, Any]:
    """Train the baseline and ``variants`` (all seeds) under ``<context.output_dir>/recsys/``; returns and
    remembers (for the variant steps) ``{"runs": {name: {seed: result}}, "summaries", "comparisons", "variants",
    "wall_seconds", "workers"}``."""
    from recplug.fileio import atomic_write_json

    scale = scale or SCALE
    start = time.perf_counter()
    runs = {BASELINE: {}, **{v.name: dict(v.settings) for v in variants}}
    workers = worker_count(scale, len(runs) * len(scale.seeds))
    results = train_runs(Path(context.output_dir) / "recsys", runs, scale, context.pm)
    summaries = {name: summarise(per_seed) for name, per_seed in results.items()}
    group = {
        "runs": {name: {str(seed): r for seed, r in per_seed.items()} for name, per_seed in results.items()},
        "summaries": summaries,
        "comparisons": {v.name: compare(summaries[BASELINE], summaries[v.name]) for v in variants},
        "variants": {v.name: {"summary": v.summary, "settings": dict(v.settings)} for v in variants},
        "wall_seconds": time.perf_counter() - start,
        "workers": workers, "threads_per_worker": max(1, available_cores() // workers),
    }
    atomic_write_json(Path(context.output_dir) / "recsys" / "summary.json", group)
    _TRAINED[str(Path(context.output_dir).resolve())] = group
    return group


def group_section(context: Any, group: Mapping[str, Any], step: str, names: Sequence[str]) -> dict[str, Any]:
    """The table, plot, sentences and caveats of runs ``names`` (baseline first) of a trained ``group``, as
    :class:`recplug.DemoSection` keyword arguments; the plot goes to ``<output_dir>/<step>/quality.png``."""
    summaries = {name: group["summaries"][name] for name in names}
    image = Path(step) / "quality.png"
    plot_summaries(summaries, Path(context.output_dir) / image)
    variants = [n for n in names if n != BASELINE]
    sentences = [comparison_sentence(n, group["comparisons"][n]) for n in variants]
    caveats = [c for n in variants if (c := noise_caveat(n, group["comparisons"][n]))]
    caveats += [c for n in names for c in peak_caveats(n, summaries[n])]
    seeds = summaries[BASELINE]["seeds"]
    described = "; ".join(f"{n}: {group['variants'][n]['summary']}" for n in variants)
    text = (
        f"{DATA_NOTE}. Every run is trained to its validation peak: the best epoch by validation {SELECT_METRIC} is "
        f"kept and training stops after {DEMO_PATIENCE} epochs without a new best (at most {DEMO_EPOCHS}); test "
        f"numbers are that epoch's, mean ± std over seeds {', '.join(map(str, seeds))}. "
        + (f"Variants: {described}. " if described else "")
        + f"{len(names) * len(seeds)} runs in {group['workers']} processes of {group['threads_per_worker']} thread(s), "
        f"{group['wall_seconds']:.0f} s in all. A difference counts as beyond noise when it exceeds the seed spread, the "
        "sum of the two stds (the mean ± std ranges do not overlap).\n\n"
        + results_table(summaries)
        + "\n\n`!`: the best epoch is the last one trained (peak not reached); `cap`: the epoch cap, not the "
        "patience, ended the run.\n\n"
        + "".join(f"- {s}\n" for s in sentences)
        + f"\n![{' and '.join(names)} over seeds]({image.as_posix()})\n"
    )
    return {
        "markdown": text,
        "results": {"dataset": "ml-100k", "select_metric": SELECT_METRIC, "patience": DEMO_PATIENCE,
                    "max_epochs": DEMO_EPOCHS, "seeds": seeds, "summaries": summaries,
                    "comparisons": {n: group["comparisons"][n] for n in variants},
                    "sentences": dict(zip(variants, sentences, strict=True)),
                    "runs": {n: group["runs"][n] for n in names}, "wall_seconds": group["wall_seconds"],
                    "workers": group["workers"], "threads_per_worker": group["threads_per_worker"]},
        "images": [image.as_posix()],
        "caveats": caveats,
        "commands": train_commands(group, names),
    }


def train_commands(group: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """The ``recplug train`` command of each run in ``names`` with its first seed, and which seeds to repeat it with."""
    seeds = group["summaries"][BASELINE]["seeds"]
    again = f"  # then again with --set seed={' and with --set seed='.join(map(str, seeds[1:]))}" if len(seeds) > 1 else ""
    return [train_command(n, {} if n == BASELINE else group["variants"][n]["settings"], seeds[0]) + again for n in names]


def recsys_section(context: Any) -> Any:
    """The ``recsys`` step: baseline and every installed variant, trained, compared, in one table."""
    from recplug.records import DemoSection

    variants = installed_variants(context.pm)
    group = train_group(context, variants)
    return DemoSection(**group_section(context, group, "recsys", [BASELINE, *(v.name for v in variants)]))


@dataclass(frozen=True)
class VariantRun:
    """The ``run`` of a plugin's demo step made by :func:`variant_step` (the ``recsys`` step finds its variants)."""

    step: str
    variants: tuple[RecsysVariant, ...]

    def __call__(self, context: Any) -> Any:
        """The comparison of each variant with the baseline, from the ``recsys`` step's runs when it ran in this
        process, else from runs trained now (then with their table and plot)."""
        from recplug.records import DemoSection

        group = _TRAINED.get(str(Path(context.output_dir).resolve()))
        names = [v.name for v in self.variants]
        trained_here = group is None or not set(names) <= set(group["summaries"])
        if trained_here:
            group = train_group(context, self.variants)
        assert group is not None
        section = group_section(context, group, self.step, [BASELINE, *names]) if trained_here else None
        base_bytes = group["summaries"][BASELINE]["serving_bytes"]
        lines = []
        for v in self.variants:
            s = group["summaries"][v.name]
            lines.append(f"- **{v.name}** ({v.summary}). {comparison_sentence(v.name, group['comparisons'][v.name])}")
            if s["serving_bytes"] != base_bytes:
                lines.append(f"  Its exported tables take {s['serving_bytes'] / 1e6:.3f} MB to serve, "
                             f"{s['serving_bytes'] / base_bytes:.2f}× the baseline's {base_bytes / 1e6:.3f} MB.")
        where = ("" if trained_here else "Measured in the recsys step's runs (its table above holds every number); "
                 "the comparison with the baseline:\n\n")
        markdown = where + "\n".join(lines) + "\n"
        if section is not None:
            markdown += "\n" + section["markdown"]
        results = {
            "trained_here": trained_here,
            "variants": {v.name: {"summary": v.summary, "settings": dict(v.settings),
                                  "comparison": group["comparisons"][v.name],
                                  "sentence": comparison_sentence(v.name, group["comparisons"][v.name]),
                                  "serving_bytes": group["summaries"][v.name]["serving_bytes"],
                                  "serving_ratio": group["summaries"][v.name]["serving_bytes"] / base_bytes}
                         for v in self.variants},
            "baseline_serving_bytes": base_bytes,
        }
        if section is not None:
            results |= {"table": section["results"]}
        caveats = [c for n in names if (c := noise_caveat(n, group["comparisons"][n]))]
        caveats += [c for n in ([BASELINE, *names] if trained_here else names)
                    for c in peak_caveats(n, group["summaries"][n])]
        return DemoSection(
            markdown, results=results, images=section["images"] if section else [], caveats=caveats,
            commands=[c for v in self.variants for c in v.commands] + train_commands(group, names),
        )


def variant_step(name: str, title: str, variants: Sequence[RecsysVariant], order: int = 100) -> Any:
    """A plugin's demo step that adds ``variants`` to the ``recsys`` step's table and states their comparison."""
    from recplug.records import DemoStep

    return DemoStep(name=name, title=title, run=VariantRun(name, tuple(variants)), order=order)


def demo_steps() -> list[Any]:
    """This package's step of ``recplug demo`` (the ``recplug_demo_steps`` hook)."""
    from recplug.records import DemoStep

    return [DemoStep(name="recsys", title="recplug-recsys: two-tower on MovieLens-100K, with every installed variant",
                     run=recsys_section, order=40)]
