"""``recplug plugins``: installed plugins with distribution, version and components."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace, pm: Any) -> int:
    from recplug.tables import markdown_table

    infos = pm.plugin_infos()
    if args.json:
        print(json.dumps([asdict(info) for info in infos], indent=2))
        return 0
    rows = []
    for info in infos:
        components = "; ".join(f"{family}: {', '.join(names)}" for family, names in info.components.items())
        rows.append([info.name, info.distribution, info.version, f"FAILED: {info.error}" if info.error else components])
    print(markdown_table(["plugin", "distribution", "version", "components"], rows))
    return 0
