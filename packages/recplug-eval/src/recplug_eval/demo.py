"""``recplug demo``: the README's main job — baselines (and every installed plugin's demo steps) on SciFact.

The demo evaluates the retrieval systems of all demo steps together on SciFact test (one table, one
plot), then runs the steps' custom sections, and writes the report folder (default ``out/demo/``):
``results.json``, ``results.md`` (table + sections), ``runs/*.trec`` and ``plot.png``. Document
encodings are cached on disk, so a second run only re-encodes queries.

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
callable for anything else (it returns a markdown section and may write files under
``context.output_dir / step.name``), or both. Steps run in ``order`` then ``name``. A step that fails to
run is reported in the output and skipped, unless the user asked for it with ``--only``; a plugin whose
hook fails is skipped (or an error) by the plugin manager's rules, which also apply
``RECPLUG_BLOCK_PLUGINS`` and ``RECPLUG_DISABLE_PLUGIN_AUTOLOAD``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recplug.errors import ConfigError
from recplug.records import DemoContext, DemoStep

log = logging.getLogger(__name__)

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


def run_demo(
    output_dir: str | Path = "out/demo",
    *,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    eval_config: Any = None,
    pm: Any = None,
) -> tuple[Any, str]:
    """Run the demo; returns ``(report, markdown)`` and writes the report folder."""
    from recplug.fileio import atomic_write_text
    from recplug.manager import load_plugin_manager

    from recplug_eval.report import markdown_report, write_report
    from recplug_eval.runner import EvalConfig, run_evaluation

    output_dir = Path(output_dir)
    pm = pm or load_plugin_manager()
    loaded = select_steps(discover_steps(pm), only, skip)
    sources = {item.name: item.source for item in loaded}
    steps = [item.step for item in loaded]
    config = eval_config or EvalConfig(dataset="scifact", split="test")
    systems: list[Any] = []
    problems: dict[str, str] = {}
    for step in steps:
        if step.systems is None:
            continue
        try:
            systems.extend(step.systems())
        except Exception as exc:
            if step.name in only:
                raise
            problems[step.name] = f"{type(exc).__name__}: {exc}"
    report = None
    sections: list[str] = []
    if systems:
        report = run_evaluation(config, systems, pm=pm)
        write_report(report, output_dir, title="recplug demo")
        sections.append(markdown_report(report, title="recplug demo"))
    context = DemoContext(output_dir=output_dir, config=config, pm=pm, report=report)
    for step in steps:
        if step.run is None:
            continue
        try:
            section = step.run(context)
            markdown = section if isinstance(section, str) else section.markdown
            sections.append(f"## {step.title}\n\n{markdown.strip()}\n")
        except Exception as exc:
            if step.name in only:
                raise
            problems[step.name] = f"{type(exc).__name__}: {exc}"
    sections.append("Steps run: " + ", ".join(f"`{s.name}` ({sources[s.name]})" for s in steps) + "\n")
    if problems:
        sections.append("Skipped after errors:\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in sorted(problems.items())) + "\n")
    markdown = "\n".join(sections)
    atomic_write_text(output_dir / "results.md", markdown)
    return report, markdown


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
