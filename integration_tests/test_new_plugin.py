"""``tools/new_plugin.py`` writes plugins that install (non-editable), list and pass their conformance kit.

For each kind the scaffolder writes a package into ``tmp_path``; pip builds it and installs it with
``--target`` (a wheel's files, not a link to the source); a subprocess with only that folder added to
``PYTHONPATH`` lists it with ``recplug plugins --json``, imports its ``plugin.py`` without torch or faiss,
and runs the package's own tests (the kit subclass) against the installed copy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCAFFOLDER = ROOT / "tools" / "new_plugin.py"
FAMILY = {
    "regularizer": "regularizer",
    "index": "retrieval_index",
    "encoder": "retrieval_encoder",
    "compressor": "embedding_compressor",
}


def run(args: list[object], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, check=False, env=env, cwd=cwd)


def environment(site: Path) -> dict[str, str]:
    """This interpreter's environment plus ``site``, without recplug switches that would hide plugins."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECPLUG_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.mark.parametrize("kind", [pytest.param("compressor", marks=pytest.mark.slow), "encoder", "index", "regularizer"])
def test_scaffolded_plugin_installs_lists_and_passes_its_kit(kind: str, tmp_path: Path) -> None:
    if kind == "compressor":
        pytest.importorskip("torchrec", reason="the compressor's kit builds torchrec tables")
    name = f"recplug-scaffold-{kind}"
    package, component = name.replace("-", "_"), name.removeprefix("recplug-")
    made = run([sys.executable, SCAFFOLDER, name, "--kind", kind, "--dest", tmp_path / "plugins"])
    assert made.returncode == 0, made.stderr
    source = tmp_path / "plugins" / name

    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        lint = run([ruff, "check", "--no-cache", "--config", ROOT / "pyproject.toml", source])
        assert lint.returncode == 0, lint.stdout + lint.stderr

    site = tmp_path / "site"
    pip = run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
               "--no-build-isolation", "--target", site, source])
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (site / package / "plugin.py").is_file() and not list(site.glob("__editable__*"))
    env = environment(site)

    listed = run([sys.executable, "-m", "recplug.cli.main", "plugins", "--json"], env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    infos = {info["name"]: info for info in json.loads(listed.stdout)}
    assert name in infos, f"{name} not listed: {sorted(infos)}"
    assert infos[name]["error"] is None and infos[name]["distribution"] == name
    assert infos[name]["components"] == {"demo_step": [component], FAMILY[kind]: [component]}

    heavy = run([sys.executable, "-c", f"import sys, {package}.plugin; "
                 "print(sorted({'torch', 'torchrec', 'faiss'} & set(sys.modules)))"], env=env, cwd=tmp_path)
    assert heavy.returncode == 0 and heavy.stdout.strip() == "[]", heavy.stdout + heavy.stderr

    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                 source / "tests"], env=env, cwd=tmp_path)
    summary = tests.stdout.strip().splitlines()[-1] if tests.stdout.strip() else tests.stderr
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", summary) and "skipped" not in summary, summary


def test_refuses_an_existing_destination_and_invalid_names(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    for name in ("taken", "Bad_Name", "9lives", "two--hyphens", "class", "json", "recplug"):
        result = run([sys.executable, SCAFFOLDER, name, "--kind", "index", "--dest", tmp_path])
        assert result.returncode == 2, (name, result.stdout)
        assert len(result.stderr.strip().splitlines()) == 1 and "error" in result.stderr, (name, result.stderr)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"], "a refused scaffold left files behind"
