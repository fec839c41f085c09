"""``recplug plugins``: installed plugins with distribution, version and components."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _components_text(info: Any) -> str:
    """``family: name [tag, tag], name; family: ...``: each component with its record's tags (derived from the
    record's typed fields, see :meth:`recplug.records.ComponentSpec.tags`)."""

    def label(family: str, name: str) -> str:
        tags = info.tags.get(family, {}).get(name, [])
        return f"{name} [{', '.join(tags)}]" if tags else name

    return "; ".join(
        f"{family}: {', '.join(label(family, name) for name in names)}" for family, names in info.components.items()
    )


def run(args: argparse.Namespace, pm: Any) -> int:
    from tabulate import tabulate

    infos = pm.plugin_infos()
    if args.json:
        print(json.dumps([asdict(info) for info in infos], indent=2))
        return 0
    rows = []
    for info in infos:
        components = _components_text(info)
        rows.append([info.name, info.distribution, info.version, f"FAILED: {info.error}" if info.error else components])
    headers = ["plugin", "distribution", "version", "components"]
    print(tabulate(rows, headers=headers, tablefmt="pipe", disable_numparse=True))  # GitHub markdown
    return 0
