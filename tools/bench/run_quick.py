"""Run every benchmark's quick mode: each folder under tools/bench declares it in its ``bench.toml``.

``bench.toml``::

    [quick]
    commands = [["tools/bench/NAME/bench.py", "--quick", "--out", "{out}"]]   # each run as `python ARGS...`
    skipped = ["a peer left out of quick mode, and why"]                        # optional, printed
    slow = "why its smallest configuration still takes many minutes"            # optional: run only with --slow

Commands run from the repository root with this interpreter, one benchmark after another; ``{out}`` is a fresh
folder per benchmark under ``--out`` (default: a new temporary folder), so quick runs never overwrite the
committed results. A folder without a ``bench.toml`` is an error. ``nox -s bench`` runs this script.

    .venv/bin/python tools/bench/run_quick.py                 # all of them (those marked slow: a line each)
    .venv/bin/python tools/bench/run_quick.py faiss_ann ssl   # some
    .venv/bin/python tools/bench/run_quick.py --slow muvera   # one marked slow
    .venv/bin/python tools/bench/run_quick.py --list          # what each would run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parents[1]
DECLARATION = "bench.toml"


@dataclass(frozen=True)
class QuickMode:
    """One benchmark's quick mode: its commands (arguments after ``python``), the peers it leaves out, and why it
    is too slow to run by default (``None``: it is quick)."""

    name: str
    commands: list[list[str]]
    skipped: list[str] = field(default_factory=list)
    slow: str | None = None


def benchmark_folders() -> list[Path]:
    """Every benchmark folder (a folder of tools/bench holding a .py file)."""
    return sorted(p for p in BENCH.iterdir() if p.is_dir() and any(p.glob("*.py")))


def quick_mode(folder: Path) -> QuickMode:
    """The quick mode ``folder/bench.toml`` declares; a missing or malformed declaration is a ValueError."""
    path = folder / DECLARATION
    if not path.exists():
        raise ValueError(f"{folder.relative_to(ROOT)} declares no quick mode: add {DECLARATION} (see {__file__})")
    quick = tomllib.loads(path.read_text(encoding="utf-8")).get("quick", {})
    commands, skipped = quick.get("commands"), quick.get("skipped", [])
    if (not isinstance(commands, list) or not commands
            or not all(isinstance(c, list) and c and all(isinstance(a, str) for a in c) for c in commands)):
        raise ValueError(f"{path.relative_to(ROOT)}: [quick] commands must be a non-empty list of argument lists")
    if not isinstance(skipped, list) or not all(isinstance(s, str) for s in skipped):
        raise ValueError(f"{path.relative_to(ROOT)}: [quick] skipped must be a list of strings")
    slow = quick.get("slow")
    if slow is not None and (not isinstance(slow, str) or not slow):
        raise ValueError(f"{path.relative_to(ROOT)}: [quick] slow must be a reason (a non-empty string)")
    return QuickMode(folder.name, commands, skipped, slow)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmark folders to run (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="parent folder of the outputs (default: a temporary one)")
    parser.add_argument("--list", action="store_true", help="print each benchmark's commands and stop")
    parser.add_argument("--slow", action="store_true", help="also run the quick modes marked slow")
    args = parser.parse_args(argv)
    folders = {f.name: f for f in benchmark_folders()}
    unknown = [n for n in args.names if n not in folders]
    if unknown:
        parser.error(f"no benchmark folder {unknown}; there are {sorted(folders)}")
    modes = [quick_mode(folders[n]) for n in (args.names or folders)]
    if args.list:
        for mode in modes:
            for command in mode.commands:
                print(f"{mode.name}: python {' '.join(command)}")
            for line in mode.skipped:
                print(f"{mode.name}: skipped {line}")
            if mode.slow:
                print(f"{mode.name}: slow (run only with --slow): {mode.slow}")
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="recplug-bench-quick-"))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    summary, failed = [], []
    for mode in modes:
        if mode.slow and not args.slow:
            print(f"[bench {mode.name}] not run (slow; --slow runs it): {mode.slow}", flush=True)
            summary.append(f"{mode.name:<16} {'skipped':<7} (slow: --slow runs it)")
            continue
        folder = out / mode.name
        folder.mkdir(parents=True, exist_ok=True)
        for line in mode.skipped:
            print(f"[bench {mode.name}] skipped in quick mode: {line}", flush=True)
        start = time.perf_counter()
        for command in mode.commands:
            argv_ = [sys.executable, *(a.replace("{out}", str(folder)) for a in command)]
            print(f"[bench {mode.name}] {' '.join(argv_)}", flush=True)
            if subprocess.run(argv_, cwd=ROOT, env=env, check=False).returncode:
                failed.append(mode.name)
                break
        seconds = time.perf_counter() - start
        summary.append(f"{mode.name:<16} {'FAILED' if mode.name in failed else 'ok':<7} {seconds:7.1f} s")
        print(f"[bench {mode.name}] {summary[-1].split(maxsplit=1)[1].strip()}; outputs in {folder}", flush=True)
    print("\n".join(["", f"quick benchmarks (outputs in {out}):", *summary]))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
