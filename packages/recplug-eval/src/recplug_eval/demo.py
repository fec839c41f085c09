"""``recplug demo``: the README's main job — baselines (and every installed plugin's demo steps) on SciFact.

The demo evaluates the retrieval systems of all demo steps together on SciFact test (one table, one
plot), then runs the steps' custom sections, and writes the report folder (default ``out/demo/``):
``results.json``, ``results.md`` (table + sections), ``runs/*.trec`` and ``plot.png``. Document
encodings are cached on disk, so a second run only re-encodes queries.

Extending the demo (for plugin authors)
---------------------------------------
A plugin contributes steps through the entry-point group ``recplug.demo``; the entry point is a
callable that returns a list of :class:`DemoStep`, and is imported only when the demo runs::

    # pyproject.toml of the plugin
    [project.entry-points."recplug.demo"]
    muvera = "recplug_muvera.demo:demo_steps"

    # recplug_muvera/demo.py
    from recplug_eval.demo import DemoStep
    from recplug_eval.runner import SystemConfig

    def demo_steps():
        return [DemoStep(
            name="muvera",
            title="MUVERA FDE + Chamfer rerank",
            systems=lambda: [SystemConfig(name="muvera-fde", encoder="muvera-fde",
                                          rerank_encoder="minilm-tokens")],
        )]

A step gives ``systems`` (retrieval systems added to the shared SciFact table), a ``run(context)``
callable for anything else (it returns a markdown section and may write files under
``context.output_dir / step.name``), or both. Steps run in ``order`` then ``name``. A step that fails
to load or run is reported in the output and skipped, unless the user asked for it with ``--only``.

Demo entry points follow the plugin manager: one is loaded only when a ``recplug`` plugin of the same
distribution is loaded, so ``RECPLUG_BLOCK_PLUGINS`` and ``RECPLUG_DISABLE_PLUGIN_AUTOLOAD`` apply to
demo steps too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from recplug.errors import ConfigError, PluginLoadError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "recplug.demo"


@dataclass(frozen=True)
class DemoContext:
    """What a step's ``run`` gets: the output folder, the evaluation config, the plugin manager and the
    report of the shared retrieval evaluation (``None`` if no step had systems)."""

    output_dir: Path
    config: Any
    pm: Any
    report: Any = None


@dataclass(frozen=True)
class DemoStep:
    """A named part of the demo.

    Attributes:
        name: unique step name (``--only`` / ``--skip`` use it).
        title: a heading for the report.
        systems: returns the retrieval systems to evaluate in the shared table.
        run: ``run(context) -> markdown`` for custom sections.
        order: steps run by ``(order, name)``; the baselines use 0.
    """

    name: str
    title: str
    systems: Callable[[], Sequence[Any]] | None = None
    run: Callable[[DemoContext], str] | None = None
    order: int = 100
    source: str = field(default="recplug-eval", compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"demo step name {self.name!r} must be a word (letters, digits, - and _)")
        if self.systems is None and self.run is None:
            raise ConfigError(f"demo step {self.name!r} has neither systems nor run")


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


@dataclass
class LoadedSteps:
    steps: list[DemoStep]
    failures: dict[str, str]


def loaded_distributions(pm: Any) -> set[str]:
    """Names of the distributions that have a plugin loaded in ``pm`` (failed plugins excluded)."""
    return {info.distribution for info in pm.plugin_infos() if info.error is None}


def _distribution(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return None if dist is None else dist.metadata["Name"]


def discover_steps(
    entry_points: Iterable[metadata.EntryPoint] | None = None, require: Iterable[str] = (), pm: Any = None
) -> LoadedSteps:
    """Built-in steps plus those of installed plugins (entry-point group :data:`ENTRY_POINT_GROUP`).

    Args:
        entry_points: the entry points to consider (default: the installed ones).
        require: entry-point names whose failure to load is an error, not a note.
        pm: only entry points of a distribution with a plugin loaded in ``pm`` are loaded (blocked or not
            autoloaded plugins bring no steps). Default: a new :func:`~recplug.manager.load_plugin_manager`
            for the installed entry points; no filter for explicitly given ones.
    """
    required = set(require)
    steps = {s.name: s for s in baseline_steps()}
    failures: dict[str, str] = {}
    if entry_points is None:
        from recplug.manager import load_plugin_manager

        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        pm = pm or load_plugin_manager()
    allowed = loaded_distributions(pm) if pm is not None else None
    for ep in sorted(entry_points, key=lambda e: e.name):
        if allowed is not None and _distribution(ep) not in allowed:
            log.debug("demo steps of %r skipped: no plugin of %s is loaded", ep.name, _distribution(ep))
            continue
        try:
            produced = ep.load()()
            if not isinstance(produced, (list, tuple)) or not all(isinstance(s, DemoStep) for s in produced):
                raise TypeError(f"{ep.value} must return a list of DemoStep")
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if ep.name in required:
                raise PluginLoadError(f"demo steps of {ep.name!r} failed to load: {message}") from exc
            log.warning("skipping demo steps of %r: %s", ep.name, message)
            failures[ep.name] = message
            continue
        for step in produced:
            if step.name in steps:
                raise ConfigError(f"demo step {step.name!r} is registered twice ({steps[step.name].source} and {ep.name})")
            steps[step.name] = DemoStep(step.name, step.title, step.systems, step.run, step.order, source=ep.name)
    return LoadedSteps(sorted(steps.values(), key=lambda s: (s.order, s.name)), failures)


def select_steps(steps: Sequence[DemoStep], only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[DemoStep]:
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
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> tuple[Any, str]:
    """Run the demo; returns ``(report, markdown)`` and writes the report folder."""
    from recplug.fileio import atomic_write_text
    from recplug.manager import load_plugin_manager

    from recplug_eval.report import markdown_report, write_report
    from recplug_eval.runner import EvalConfig, run_evaluation

    output_dir = Path(output_dir)
    loaded = discover_steps(entry_points, require=only, pm=pm)
    steps = select_steps(loaded.steps, only, skip)
    pm = pm or load_plugin_manager()
    config = eval_config or EvalConfig(dataset="scifact", split="test")
    systems: list[Any] = []
    problems = dict(loaded.failures)
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
            sections.append(f"## {step.title}\n\n{step.run(context).strip()}\n")
        except Exception as exc:
            if step.name in only:
                raise
            problems[step.name] = f"{type(exc).__name__}: {exc}"
    sections.append("Steps run: " + ", ".join(f"`{s.name}` ({s.source})" for s in steps) + "\n")
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
