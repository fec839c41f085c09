"""Fake installed distributions with ``recplug`` entry points, for testing plugin loading.

``install_fake_distribution(site, "my-dist", "my_module", source)`` writes ``my_module.py`` and a
``my_dist-1.0.dist-info`` folder into ``site``; put ``site`` on ``sys.path`` and
:func:`recplug_entry_points` finds the entry point exactly as ``importlib.metadata`` does for real packages.
"""

from __future__ import annotations

import textwrap
from importlib import metadata
from pathlib import Path


def install_fake_distribution(site: Path, distribution: str, module: str, source: str, version: str = "1.0") -> None:
    """Write a module and its dist-info (METADATA + entry_points.txt) into ``site``."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[recplug]\n{distribution} = {module}\n")


def recplug_entry_points(site: Path, *distributions: str) -> list[metadata.EntryPoint]:
    """The ``recplug`` entry points of the named distributions installed in ``site``."""
    eps = [
        ep
        for dist in metadata.distributions(path=[str(site)])
        for ep in dist.entry_points
        if ep.group == "recplug" and dist.metadata["Name"] in distributions
    ]
    if len(eps) != len(distributions):
        raise LookupError(f"expected entry points of {distributions} in {site}, found {eps}")
    return eps
