"""The recommender section of ``recplug demo`` (entry point group ``recplug.demo``), and the helper that
plugins' demo steps use to train variants of the same model.

The ``recsys`` step trains the two-tower baseline on MovieLens-100K (RecBole split, log-Q correction, a few
epochs so the demo stays within its time budget) and writes ``<demo out>/recsys/two-tower/``. A plugin step
calls :func:`train_variants` with its own regularizers or compressor; its table repeats the baseline's row
when the ``recsys`` step ran before it (steps run in ``order``; this one has 40).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEMO_EPOCHS = 4
BASELINE = "two-tower"
DEMO_SETTINGS: dict[str, Any] = {
    "data": {"dataset": "ml-100k"},
    "model": {"log_q": True},
    "epochs": DEMO_EPOCHS,
    "eval_ks": [10, 20, 50],
    "resume": False,
    "progress": False,
}


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def train_variant(context: Any, name: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train the demo's two-tower with ``settings`` merged over :data:`DEMO_SETTINGS` (``TrainConfig`` field
    names, e.g. ``{"regularizers": [{"name": "ssl-cfm"}]}``); returns ``metrics.json`` plus ``seconds``."""
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
    atomic_write_json(output_dir / "metrics.json", result)  # later steps show the baseline's time too
    return result


def variants_table(results: Mapping[str, Mapping[str, Any]], k: int = 20) -> str:
    """Markdown: one row per run with R@k and nDCG@k overall, head and tail R@k, best epoch and training time."""
    from recplug_eval import markdown_table
    from recplug_eval.metrics import measure_name

    recall, ndcg = measure_name("R", k), measure_name("nDCG", k)
    rows = []
    for name, r in results.items():
        t = r["test"]
        rows.append([name, t[recall], t[ndcg], t.get(f"head/{recall}"), t.get(f"tail/{recall}"),
                     r["best_epoch"], f"{r.get('seconds', float('nan')):.0f}"])
    return markdown_table(["run", recall, ndcg, f"head {recall}", f"tail {recall}", "best epoch", "train s"], rows)


def train_variants(context: Any, runs: Mapping[str, Mapping[str, Any]], k: int = 20) -> str:
    """Train each named variant, prepend the baseline if the ``recsys`` step already trained it, and return
    a markdown section (MovieLens-100K test, RecBole split, training items excluded)."""
    results: dict[str, Any] = {}
    baseline = Path(context.output_dir) / "recsys" / BASELINE / "metrics.json"
    if baseline.exists():
        results[f"{BASELINE} (baseline)"] = json.loads(baseline.read_text())
    for name, settings in runs.items():
        results[name] = train_variant(context, name, settings)
    return (
        f"MovieLens-100K, RecBole split, {DEMO_EPOCHS} epochs (best by validation RR@10), full ranking with "
        "training items excluded; head = top 20% items by training interactions.\n\n" + variants_table(results, k)
    )


def demo_steps() -> list[Any]:
    """This package's step of ``recplug demo`` (the ``recplug_demo_steps`` hook)."""
    from recplug.records import DemoStep

    def run(context: Any) -> str:
        return train_variants(context, {BASELINE: {}}, k=10)

    return [DemoStep(name="recsys", title="recplug-recsys: two-tower on torchrec (MovieLens-100K)", run=run, order=40)]
