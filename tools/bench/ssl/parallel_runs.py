"""Train several demo two-towers side by side: one process per run, ``jobs`` at a time, one thread each.

``tune.py`` and ``bench_pipeline.py`` submit their runs here. A run is a :class:`Run`: a name, the
``TrainConfig`` settings merged over the demo's, and the demo settings of its dataset. On 2 cores two jobs
halve a sweep's wall time (the demo's model is fastest on one thread per run, ``tools/bench/recsys``).
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any


@dataclass(frozen=True)
class Run:
    """One training run: ``settings`` over ``demo.DEMO_SETTINGS`` updated with ``demo_settings``."""

    name: str
    settings: dict[str, Any]
    demo_settings: dict[str, Any] = field(default_factory=dict)
    tag: Any = None  # the caller's key, handed back with the result


def train(run: Run) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(metrics.json + seconds, history.json)`` of one run, trained in a temporary folder."""
    from recplug.manager import load_plugin_manager
    from recplug_recsys import demo

    demo.DEMO_SETTINGS.update(run.demo_settings)
    with tempfile.TemporaryDirectory() as tmp:
        result = demo.train_variant(SimpleNamespace(output_dir=Path(tmp), pm=load_plugin_manager()), run.name,
                                    run.settings)
        history = json.loads((Path(tmp) / "recsys" / run.name / "history.json").read_text())
    return result, history


def train_all(runs: Sequence[Run], jobs: int = 1) -> Iterator[tuple[Run, dict[str, Any], list[dict[str, Any]]]]:
    """Yield ``(run, result, history)`` as runs finish; ``jobs=1`` trains them here, one after another."""
    if jobs <= 1 or len(runs) <= 1:
        for run in runs:
            yield (run, *train(run))
        return
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(train, run): run for run in runs}
        for future in as_completed(futures):
            yield (futures[future], *future.result())
