"""Every stage of the flops_idf benchmark on a tiny SciFact subset, end to end, into ``--out`` (about a minute).

A smoke run of the real pipeline (``common.QUICK``: 30 train and 15 test queries, 150 documents cut to 400
characters; students trained for a few steps), not a measurement: its caches and results stay under ``--out``, the committed results here are
not touched. Seismic runs when ``pyseismic-lsr`` is installed (``recplug-flops-idf[bench]``), else is skipped with
a line saying so.

    .venv/bin/python -m tools.bench.flops_idf.quick --out out/flops-idf-quick
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

from . import ablations, evaluate, holdout, prepare, report, seismic_bench, teachers, train_students
from .common import QUICK

TRAIN = ["--steps", "4", "--warmup", "2", "--batch", "4", "--threads", "2"]


def stages() -> list[tuple[str, Callable[[list[str]], None], list[str]]]:
    """``(label, main, arguments)`` of every stage, in pipeline order."""
    out: list[tuple[str, Callable[[list[str]], None], list[str]]] = [
        ("prepare", prepare.main, []),
        ("teachers", teachers.main, []),
        ("train_students", train_students.main, ["flops", "flops-idf", *TRAIN]),
        ("train_students --holdout", train_students.main, ["flops-idf", "--holdout", str(QUICK.holdout), *TRAIN]),
        ("evaluate", evaluate.main, []),
    ]
    if importlib.util.find_spec("seismic") is not None:
        out.append(("seismic_bench", seismic_bench.main, []))
    return [*out, ("ablations", ablations.main, []), ("holdout", holdout.main, []), ("report", report.main, [])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the results and caches of this run")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("seismic") is None:
        print("skipped seismic_bench: pyseismic-lsr is not installed (pip install 'recplug-flops-idf[bench]')")
    for label, stage, arguments in stages():
        start = time.perf_counter()
        stage([*arguments, "--quick", "--out", str(args.out)])
        print(f"[quick] {label}: {time.perf_counter() - start:.1f} s", flush=True)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
