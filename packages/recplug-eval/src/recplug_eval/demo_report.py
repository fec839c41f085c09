"""The demo's report: ``index.html`` (self-contained), ``report.md`` and one ``results.json``.

:func:`recplug_eval.demo.run_demo` records what each step did in :class:`StepOutcome` records and a
:class:`DemoRun`; :func:`write_demo_report` turns them into the three files (each written atomically):

- a header: what ran (steps, their distributions and versions), when (UTC start and end), package versions,
  CPU model, threads, wall time per step and in total, caveats (every step's plus the demo's own, facts
  only), the commands that reproduce each benchmark the report summarises, and links to the plots;
- the shared retrieval table (:func:`recplug_eval.report.results_table`) and its plot;
- each step's section under its title: its markdown, its images (embedded in the HTML), its caveats.

``results.json`` holds ``demo`` (the header's data), ``retrieval`` (the table's ``EvalReport.to_json()``)
and ``steps`` (each step's ``DemoSection.results`` under its name).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from recplug.records import DemoSection

from recplug_eval.progress import format_seconds
from recplug_eval.report_html import image_links, markdown_to_html, slug
from recplug_eval.tables import markdown_table

#: third-party libraries whose versions the header shows (where installed), besides every recplug distribution
LIBRARIES = ("torch", "faiss-cpu", "sentence-transformers", "torchrec", "bm25s", "ir-measures", "numpy")

#: the heading of the shared retrieval table's section
TABLE_HEADING = "Retrieval: every system in one table"


@dataclass
class StepOutcome:
    """What one demo step did.

    Attributes:
        name, title, source: the step's name, heading and the distribution that registered it.
        systems: names of the systems it added to the shared retrieval table.
        section: what its ``run`` returned (``None`` for a step with systems only, or when it failed).
        run_s: wall seconds of its ``run`` (``None`` when it has none).
        problem: one line saying why it failed (``None`` when it did not).
    """

    name: str
    title: str
    source: str
    systems: list[str] = field(default_factory=list)
    section: DemoSection | None = None
    run_s: float | None = None
    problem: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.problem else "ok"


@dataclass
class DemoRun:
    """The whole demo: timings, the shared table's report and every step's outcome."""

    started: datetime
    finished: datetime
    wall_s: float
    command: str
    steps: list[StepOutcome]
    report: Any = None
    table_s: float | None = None
    caveats: list[str] = field(default_factory=list)


def check_section_images(section: DemoSection, output_dir: Path) -> str | None:
    """A one-line problem when an image the section lists or shows is missing or empty, else ``None``."""
    for src in dict.fromkeys([*section.images, *image_links(section.markdown)]):
        path = output_dir / src
        if not path.is_file():
            return f"image {src} does not exist"
        if path.stat().st_size == 0:
            return f"image {src} is empty"
    return None


def distribution_versions() -> dict[str, str]:
    """Versions of every installed ``recplug*`` distribution and of :data:`LIBRARIES` that are installed."""
    names = sorted({d.metadata["Name"] for d in metadata.distributions() if (d.metadata["Name"] or "").startswith("recplug")})
    versions = {}
    for name in [*names, *LIBRARIES]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_info() -> dict[str, Any]:
    """CPU model, CPUs, threads (torch intra-op, ``OMP_NUM_THREADS``), whether bfloat16 / int8 GEMMs are native
    (the encoders' and screens' reduced-precision paths switch on with them), Python and the OS."""
    import torch

    from recplug_eval.cpu_features import cpu_model, native_bf16, native_int8

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "native_bf16": native_bf16(),
        "native_int8": native_int8(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _yes(flag: Any) -> str:
    return "yes" if flag else "no"


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    return "" if value is None else format_seconds(value)


def demo_caveats(run: DemoRun) -> list[str]:
    """The demo's own caveats (facts about this run) then every step's, each named after its step."""
    items = list(run.caveats)
    if run.report is not None:
        config = run.report.config
        if config.max_queries is not None:
            items.append(f"only the first {config.max_queries} judged queries were evaluated (max_queries), "
                         "not the whole split")
        cached = [s.name for s in run.report.systems if s.timings.get("documents_from_cache")]
        if cached:
            items.append("document encodings came from the encodings cache (their encoding time is not in this "
                         f"run's wall time) for: {', '.join(cached)}")
    for step in run.steps:
        if step.section is not None:
            items += [f"`{step.name}`: {c}" for c in step.section.caveats]
    return items


def header_markdown(run: DemoRun, versions: dict[str, str], machine: dict[str, Any]) -> str:
    """The report's header: what ran and when, versions, machine, wall times, caveats, commands, contents."""
    ok = [s for s in run.steps if not s.problem]
    failed = [s for s in run.steps if s.problem]
    lines = [
        "# recplug demo",
        "",
        f"Ran from **{_utc(run.started)}** to **{_utc(run.finished)}**: {format_seconds(run.wall_s)} of wall time; "
        f"{len(ok)} of {len(run.steps)} steps ran, {len(failed)} failed. Command: `{run.command}`.",
        "",
        *contents_markdown(run),
        "## What ran",
        "",
    ]
    rows = []
    for s in run.steps:
        version = versions.get(s.source, "")
        rows.append([f"`{s.name}`", f"{s.source} {version}".strip(), ", ".join(s.systems), _seconds(s.run_s),
                     "ok" if not s.problem else "skipped: " + s.problem.replace("|", "\\|")])
    if run.table_s is not None:
        count = len(run.report.systems) if run.report is not None else 0
        rows.append(["(shared retrieval table)", "", f"{count} systems of the steps above", _seconds(run.table_s), "ok"])
    rows.append(["**total**", "", "", format_seconds(run.wall_s), ""])
    lines += [markdown_table(["step", "distribution", "systems in the shared table", "wall time", "status"], rows), ""]
    lines += [
        "Wall time: a step's `run` (its own training or evaluation); the systems of every step are evaluated "
        "together in the shared retrieval table, timed once.",
        "",
        "## Machine and versions",
        "",
        f"CPU: {machine['cpu_model']}; {machine['usable_cpus']} usable of {machine['logical_cpus']} logical CPUs; "
        f"torch threads: {machine['torch_threads']}; OMP_NUM_THREADS: {machine['OMP_NUM_THREADS'] or 'unset'}; "
        f"native bfloat16 GEMMs: {_yes(machine.get('native_bf16'))} (MiniLM and the sparse heads run in bfloat16 "
        f"where yes, float32 otherwise); native int8 GEMMs: {_yes(machine.get('native_int8'))}; "
        f"Python {machine['python']} on {machine['platform']}.",
        "",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()) + ".",
        "",
    ]
    caveats = demo_caveats(run)
    lines += ["## Caveats", ""]
    lines += [f"- {c}" for c in caveats] if caveats else ["None recorded by the steps."]
    lines += ["", "## Reproduce", "", f"- the whole demo: `{run.command}`"]
    for s in run.steps:
        if s.section is not None:
            lines += [f"- `{s.name}`: `{command}`" for command in s.section.commands]
    return "\n".join(lines) + "\n"


def contents_markdown(run: DemoRun) -> list[str]:
    """Links to the table and every step's section (GitHub's anchors), then links to every plot file."""
    lines = []
    if run.report is not None:
        lines.append(f"- [{TABLE_HEADING}](#{slug(TABLE_HEADING)})")
    lines += [f"- [{s.title}](#{slug(s.title)})" for s in run.steps if s.section is not None]
    plots = (["plot.png"] if run.report is not None else []) + [
        image for s in run.steps if s.section is not None for image in s.section.images
    ]
    if plots:
        lines += ["", "Plots: " + ", ".join(f"[{p}]({p})" for p in plots) + "."]
    return [*lines, ""]


def table_markdown(report: Any) -> str:
    """The shared retrieval table's section: dataset, table, column notes, plot."""
    from recplug_eval.report import markdown_report

    body = markdown_report(report, title=TABLE_HEADING).replace("# ", "## ", 1)
    return body + f"\n![{report.dataset['name']}: quality against latency and memory](plot.png)\n"


def section_markdown(step: StepOutcome) -> str:
    """A step's section: heading, provenance line, its markdown, images it lists but does not show, caveats."""
    assert step.section is not None
    section = step.section
    lines = [f"## {step.title}", "", f"Step `{step.name}` from `{step.source}`; wall time {_seconds(step.run_s)}.", ""]
    lines += [section.markdown.strip(), ""]
    shown = set(image_links(section.markdown))
    lines += [f"![{image}]({image})\n" for image in section.images if image not in shown]
    if section.caveats:
        lines += ["Caveats:", "", *(f"- {c}" for c in section.caveats), ""]
    return "\n".join(lines)


def results_json(run: DemoRun, versions: dict[str, str], machine: dict[str, Any]) -> dict[str, Any]:
    """The one ``results.json``: the header's data, the shared table and every step's results."""
    return {
        "demo": {
            "command": run.command,
            "started_utc": run.started.isoformat(),
            "finished_utc": run.finished.isoformat(),
            "wall_s": run.wall_s,
            "retrieval_table_s": run.table_s,
            "steps": [
                {"name": s.name, "title": s.title, "distribution": s.source, "version": versions.get(s.source),
                 "systems": s.systems, "run_s": s.run_s, "status": s.status, "reason": s.problem}
                for s in run.steps
            ],
            "machine": machine,
            "versions": versions,
            "caveats": demo_caveats(run),
            "commands": {s.name: list(s.section.commands) for s in run.steps if s.section is not None},
        },
        "retrieval": None if run.report is None else run.report.to_json(),
        "steps": {s.name: dict(s.section.results) for s in run.steps if s.section is not None},
    }


def demo_markdown(run: DemoRun, versions: dict[str, str], machine: dict[str, Any]) -> str:
    """``report.md``: the header, the shared table and every step's section that ran."""
    parts = [header_markdown(run, versions, machine)]
    if run.report is not None:
        parts.append(table_markdown(run.report))
    parts += [section_markdown(s) for s in run.steps if s.section is not None]
    return "\n".join(parts)


def write_demo_report(run: DemoRun, output_dir: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``index.html`` and ``results.json`` into ``output_dir``; returns their paths."""
    from recplug.fileio import atomic_write_json, atomic_write_text

    out = Path(output_dir)
    versions, machine = distribution_versions(), machine_info()
    markdown = demo_markdown(run, versions, machine)
    paths = {"markdown": out / "report.md", "html": out / "index.html", "json": out / "results.json"}
    atomic_write_json(paths["json"], results_json(run, versions, machine))
    atomic_write_text(paths["markdown"], markdown)
    atomic_write_text(paths["html"], markdown_to_html(markdown, out, title="recplug demo"))
    return paths


def reproduce_command(output_dir: str | Path, only: Sequence[str], skip: Sequence[str], config: Any) -> str:
    """The ``recplug demo`` command line for these arguments (a non-default dataset is named as Python)."""
    import shlex

    words = ["recplug", "demo"]
    if str(output_dir) != "out/demo":
        words += ["--out", str(output_dir)]
    for flag, names in (("--only", only), ("--skip", skip)):
        for name in names:
            words += [flag, name]
    if config.max_queries is not None:
        words += ["--max-queries", str(config.max_queries)]
    if config.cache_dir is not None:
        words += ["--cache-dir", str(config.cache_dir)]
    command = shlex.join(words)
    if (config.dataset, dict(config.dataset_config), config.split) != ("scifact", {}, "test"):
        command += f"  (from Python, with EvalConfig(dataset={config.dataset!r}, split={config.split!r}, ...))"
    return command
