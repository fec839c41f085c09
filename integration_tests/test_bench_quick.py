"""Every benchmark under tools/bench declares a quick mode that ``nox -s bench`` runs (issue 31).

Fast and static: each folder's ``bench.toml`` parses, names scripts (or ``-m`` modules) that exist, writes under
``{out}`` and passes only options its script defines; ``tools/bench/run_quick.py --list`` finds them all. The quick
runs themselves are ``nox -s bench`` (minutes), not part of the test run.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "tools" / "bench"
spec = importlib.util.spec_from_file_location("run_quick", BENCH / "run_quick.py")
assert spec is not None and spec.loader is not None
run_quick = sys.modules["run_quick"] = importlib.util.module_from_spec(spec)  # dataclasses look it up there
spec.loader.exec_module(run_quick)
FOLDERS = run_quick.benchmark_folders()


def test_every_benchmark_folder_is_found() -> None:
    # troubleshooting: a benchmark folder is a folder of tools/bench holding a .py file
    assert len(FOLDERS) >= 9, [f.name for f in FOLDERS]


def script_of(command: list[str]) -> list[Path]:
    """The source files a quick command runs: the script and the modules beside it that it imports, or every
    module of a ``-m`` package."""
    if command[0] == "-m":
        module = ROOT.joinpath(*command[1].split("."))
        return sorted(module.parent.glob("*.py")) if module.with_suffix(".py").exists() else []
    script = ROOT / command[0]
    if not script.exists():
        return []
    imported = set(re.findall(r"^\s*(?:from|import) (\w+)", script.read_text(encoding="utf-8"), re.MULTILINE))
    return [script, *(p for p in sorted(script.parent.glob("*.py")) if p.stem in imported)]


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_benchmark_declares_a_quick_mode(folder: Path) -> None:
    # troubleshooting: add tools/bench/<name>/bench.toml with [quick] commands (see tools/bench/run_quick.py)
    mode = run_quick.quick_mode(folder)
    for command in mode.commands:
        sources = script_of(command)
        assert sources, f"{folder.name}: {command[:2]} names no script or module of the repository"
        assert any("{out}" in arg for arg in command), f"{folder.name}: {command[:2]} writes nowhere under {{out}}"
        text = "\n".join(p.read_text(encoding="utf-8") for p in sources)
        for option in (a.split("=")[0] for a in command if re.match(r"--[a-z]", a)):
            assert f'"{option}"' in text, f"{folder.name}: {command[:2]} passes {option}, which its script lacks"


def test_nox_bench_runs_the_quick_modes() -> None:
    listed = subprocess.run([sys.executable, str(BENCH / "run_quick.py"), "--list"], capture_output=True, text=True,
                            check=True, cwd=ROOT).stdout
    assert {line.split(":")[0] for line in listed.splitlines()} == {f.name for f in FOLDERS}
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert "tools/bench/run_quick.py" in noxfile
