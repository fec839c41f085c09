"""Benchmark: cost of loading the plugin manager and listing plugins, next to importing torch / faiss.

Each probe runs in a fresh interpreter (median of --repeats runs). The plugin listing loads every installed
recplug plugin; the benchmark also records which heavy libraries that imported (it must be none).

    .venv/bin/python tools/bench/plugin_load/run.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from recplug.fileio import atomic_write_json, atomic_write_text
from recplug_eval import markdown_table

HEAVY = ("torch", "faiss", "torchrec", "transformers", "sentence_transformers", "polars")
PROBES = {
    "python -c pass": "pass",
    "load plugins + list": "from recplug import load_plugin_manager; load_plugin_manager().plugin_infos()",
    "import faiss": "import faiss",
    "import torch": "import torch",
}
TIMER = """
import json, sys, time
t0 = time.perf_counter()
exec(compile({code!r}, "probe", "exec"))
elapsed = time.perf_counter() - t0
print(json.dumps({{"seconds": elapsed, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


def measure(code: str, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", TIMER.format(code=code, heavy=HEAVY)], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"median_seconds": statistics.median(r["seconds"] for r in runs), "heavy_imported": runs[0]["heavy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    results = {name: measure(code, args.repeats) for name, code in PROBES.items()}
    base = results["load plugins + list"]["median_seconds"]
    for r in results.values():
        r["ratio_to_plugin_listing"] = r["median_seconds"] / base
    atomic_write_json(args.out / "results.json", {"repeats": args.repeats, "results": results})
    rows = [
        [name, r["median_seconds"] * 1000, r["ratio_to_plugin_listing"], ", ".join(r["heavy_imported"]) or "none"]
        for name, r in results.items()
    ]
    table = markdown_table(["probe (fresh interpreter)", "median ms", "x plugin listing", "heavy modules"], rows, ".2f")
    text = (
        "# Plugin loading cost\n\nCommand: `.venv/bin/python tools/bench/plugin_load/run.py` "
        f"(median of {args.repeats} fresh interpreters; all installed plugins loaded).\n\n{table}\n"
    )
    atomic_write_text(args.out / "results.md", text)
    print(text)


if __name__ == "__main__":
    main()
