"""``recplug demo``: the README's main job — baselines (and every installed plugin's demo steps) on SciFact.

The demo evaluates the retrieval systems of all demo steps together on SciFact test (one table, one
plot), then runs the steps' custom sections, and writes the report folder (default ``out/demo/``):
``index.html`` (one self-contained page: plots embedded), ``report.md`` (the same report; plots linked),
``results.json`` (every step's numbers, the shared table, the header's data), ``plot.png``, ``runs/*.trec``
and ``per_query/*.tsv`` (see :mod:`recplug_eval.demo_report`). Document encodings are cached on disk, so a
second run only re-encodes queries. It prints one line per phase to stderr (``[demo 2/6] muvera done in
41.2 s``); bars inside a phase are tqdm on a terminal and plain lines in a log (:mod:`recplug_eval.progress`).

Extending the demo (for plugin authors)
---------------------------------------
A plugin contributes steps through the ``recplug_demo_steps`` hook of its ``recplug`` entry point, like
every other component; the hook returns :class:`recplug.DemoStep` records and imports nothing heavy::

    # recplug_muvera/plugin.py
    from recplug import DemoStep, hookimpl

    @hookimpl
    def recplug_demo_steps():
        def systems():
            from recplug_eval.runner import SystemConfig
            return [SystemConfig(name="muvera-fde", encoder="muvera", rerank_encoder="minilm-tokens")]
        return [DemoStep(name="muvera", title="MUVERA FDE + Chamfer rerank", systems=systems)]

A step gives ``systems`` (retrieval systems added to the shared SciFact table), a ``run(context)``
callable for anything else (it returns a :class:`recplug.DemoSection`: markdown, ``results`` for
``results.json``, ``images`` it wrote under ``context.output_dir / step.name``, ``caveats`` and the
``commands`` that reproduce the benchmark it summarises; a plain markdown string is accepted), or both.
Steps run in ``order`` then ``name``. A step that fails to run (or lists an image it did not write) is
reported in the header as skipped with the reason, unless the user asked for it with ``--only``; a plugin
whose hook fails is skipped (or an error) by the plugin manager's rules, which also apply
``RECPLUG_BLOCK_PLUGINS`` and ``RECPLUG_DISABLE_PLUGIN_AUTOLOAD``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recplug.errors import ConfigError
from recplug.records import DemoContext, DemoStep

from recplug_eval.progress import format_seconds

log = logging.getLogger(__name__)

#: seconds each system of the demo's table spends on one-query-at-a-time timing (at least 20 queries; the exact
#: multi-vector search takes about 0.75 s a query on 2 cores, so it stops after about 40 of the 100)
DEMO_LATENCY_SECONDS = 30.0


def demo_eval_config(cache_dir: str | Path | None = None, max_queries: int | None = None) -> Any:
    """The demo's shared table: all of SciFact test, one-query timing bounded by :data:`DEMO_LATENCY_SECONDS`."""
    from recplug_eval.runner import EvalConfig

    return EvalConfig(dataset="scifact", split="test", cache_dir=None if cache_dir is None else Path(cache_dir),
                      max_queries=max_queries, latency_seconds=DEMO_LATENCY_SECONDS)


def baseline_steps() -> list[DemoStep]:
    """The built-in step: BM25 (bm25s) and dense all-MiniLM-L6-v2 with the default dense index."""
    from recplug_eval.runner import SystemConfig

    return [
        DemoStep(
            name="baselines",
            title="Baselines: BM25 and dense MiniLM",
            systems=lambda: [SystemConfig.bm25("bm25"), SystemConfig(name="minilm", encoder="minilm")],
            order=0,
        )
    ]


@dataclass(frozen=True)
class LoadedStep:
    """A demo step and the distribution that registered it (for listings and the report)."""

    step: DemoStep
    source: str

    @property
    def name(self) -> str:
        return self.step.name


def discover_steps(pm: Any = None) -> list[LoadedStep]:
    """The demo steps of every plugin loaded in ``pm`` (default: a new manager), by ``(order, name)``."""
    if pm is None:
        from recplug.manager import load_plugin_manager

        pm = load_plugin_manager()
    found = [LoadedStep(step, pm.distribution_of_component("demo_step", name)) for name, step in pm.demo_steps().items()]
    return sorted(found, key=lambda loaded: (loaded.step.order, loaded.step.name))


def select_steps(steps: Sequence[LoadedStep], only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[LoadedStep]:
    names = {s.name for s in steps}
    unknown = (set(only) | set(skip)) - names
    if unknown:
        raise ConfigError(f"unknown demo step(s) {sorted(unknown)}; available: {', '.join(sorted(names))}")
    return [s for s in steps if (not only or s.name in only) and s.name not in skip]


def one_line(exc: BaseException) -> str:
    """``RuntimeError: boom``: an exception as one line (the first line of its message)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def announce(index: int, count: int, what: str, message: str) -> None:
    """One plain progress line per demo phase on stderr (``[demo 2/6] muvera done in 41.2 s``)."""
    print(f"[demo {index}/{count}] {what} {message}", file=sys.stderr, flush=True)


def run_demo(
    output_dir: str | Path = "out/demo",
    *,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    eval_config: Any = None,
    pm: Any = None,
    command: str | None = None,
) -> tuple[Any, str]:
    """Run the demo; returns ``(report, markdown)`` (the shared table's EvalReport, or ``None`` when no step
    has systems, and ``report.md``'s text) and writes the report folder.

    Writes ``index.html``, ``report.md`` and ``results.json`` (:mod:`recplug_eval.demo_report`), and the shared
    table's ``plot.png``, ``runs/`` and ``per_query/``. A step that raises, or whose section lists or shows
    an image that does not exist, is reported as skipped with a one-line reason; a step asked for with
    ``only`` that raises fails the demo. ``command`` is the command line shown as the way to reproduce the
    run (default: built from the arguments). Prints one line per phase to stderr as it goes.
    """
    from recplug.manager import load_plugin_manager
    from recplug.records import DemoSection

    from recplug_eval.demo_report import (
        DemoRun,
        StepOutcome,
        check_section_images,
        reproduce_command,
        write_demo_report,
    )
    from recplug_eval.paths import make_output_dir
    from recplug_eval.report import write_report
    from recplug_eval.runner import run_evaluation

    started, clock = datetime.now(timezone.utc), time.perf_counter()
    output_dir = Path(output_dir)
    pm = pm or load_plugin_manager()
    loaded = select_steps(discover_steps(pm), only, skip)
    config = eval_config or demo_eval_config()
    outcomes = {item.name: StepOutcome(item.name, item.step.title, item.source) for item in loaded}
    systems: list[Any] = []
    for item in loaded:
        if item.step.systems is None:
            continue
        try:
            added = list(item.step.systems())
        except Exception as exc:
            if item.name in only:
                raise
            outcomes[item.name].problem = one_line(exc)
            continue
        systems += added
        outcomes[item.name].systems = [s.name for s in added]
    runnable = [item for item in loaded if item.step.run is not None and not outcomes[item.name].problem]
    count = len(runnable) + bool(systems)
    make_output_dir(output_dir, "demo output folder")
    report, table_s = None, None
    if systems:
        owners = ", ".join(name for name, outcome in outcomes.items() if outcome.systems)
        announce(1, count, "retrieval table", f"... {len(systems)} systems ({owners})")
        start = time.perf_counter()
        report = run_evaluation(config, systems, pm=pm)
        write_report(report, output_dir, title="recplug demo", summary=False)
        table_s = time.perf_counter() - start
        announce(1, count, "retrieval table", f"done in {format_seconds(table_s)}")
    context = DemoContext(output_dir=output_dir, config=config, pm=pm, report=report)
    for index, item in enumerate(runnable, start=1 + bool(systems)):
        outcome = outcomes[item.name]
        announce(index, count, item.name, "...")
        start = time.perf_counter()
        try:
            assert item.step.run is not None
            section = item.step.run(context)
            outcome.section = DemoSection(section) if isinstance(section, str) else section
        except Exception as exc:
            if item.name in only:
                raise
            outcome.problem = one_line(exc)
        outcome.run_s = time.perf_counter() - start
        if outcome.section is not None:
            outcome.problem = outcome.problem or check_section_images(outcome.section, output_dir)
        if outcome.problem:
            outcome.section = None
            announce(index, count, item.name, f"failed after {format_seconds(outcome.run_s)}: {outcome.problem}")
        else:
            announce(index, count, item.name, f"done in {format_seconds(outcome.run_s)}")
    run = DemoRun(
        started=started,
        finished=datetime.now(timezone.utc),
        wall_s=time.perf_counter() - clock,
        command=command or reproduce_command(output_dir, only, skip, config),
        steps=list(outcomes.values()),
        report=report,
        table_s=table_s,
    )
    paths = write_demo_report(run, output_dir)
    return report, paths["markdown"].read_text(encoding="utf-8")


def evaluate_on_slice(
    context: DemoContext,
    step_name: str,
    systems: Sequence[Any],
    *,
    max_docs: int = 800,
    max_queries: int = 100,
    title: str = "",
) -> str:
    """Evaluate ``systems`` on a small, self-consistent SciFact slice and return a markdown section.

    For plugin steps whose systems are too slow for the whole corpus within the demo's time budget
    (multi-vector token encodings, learned sparse document encoders). The slice holds the first
    ``max_queries`` judged test queries, every document they judge and other documents in corpus order
    up to ``max_docs`` (:func:`recplug_eval.datasets.beir.subset_beir`); it is written to
    ``context.output_dir / step_name / "scifact-slice"`` and the step's report next to it.
    """
    from recplug_eval.datasets.beir import subset_beir
    from recplug_eval.report import markdown_report, write_report
    from recplug_eval.runner import EvalConfig, run_evaluation

    step_dir = Path(context.output_dir) / step_name
    dataset = context.pm.create("dataset", "scifact")
    slice_dir = subset_beir(dataset, step_dir / "scifact-slice", max_docs=max_docs, max_queries=max_queries)
    config = EvalConfig(dataset="beir", dataset_config={"path": str(slice_dir)}, split="test")
    report = run_evaluation(config, list(systems), pm=context.pm)
    write_report(report, step_dir, title=title or step_name)
    return markdown_report(report, title=title or step_name).replace("# ", "### ", 1)
