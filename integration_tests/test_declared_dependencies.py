"""Every distribution declares every distribution it imports (issue 31): an undeclared import fails here.

The imports of each distribution's source (and, for its test extra, its tests) are read with ``ast``
(function-level imports included), mapped to the installed distributions that provide them, and compared
with ``dependencies`` and the optional extras of its ``pyproject.toml``. torchrec is declared as an extra
(``torchrec``): on CPU machines it is installed with ``--no-deps`` (tools/env/setup.sh).
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = sorted(p.parent for p in [*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("plugins/*/pyproject.toml")])
PROVIDERS = metadata.packages_distributions()


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalize(re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0])


def imported_modules(folder: Path) -> set[str]:
    """Top-level module names imported anywhere in the ``.py`` files under ``folder``."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def needed_distributions(folder: Path, own_modules: set[str]) -> dict[str, set[str]]:
    """``distribution -> modules`` for the third-party imports under ``folder``."""
    needed: dict[str, set[str]] = {}
    for module in imported_modules(folder) - own_modules - set(sys.stdlib_module_names) - {"__future__"}:
        providers = PROVIDERS.get(module)
        if not providers:
            continue  # a test-local helper module (e.g. a fake plugin written by a test)
        for dist in providers:
            needed.setdefault(normalize(dist), set()).add(module)
    return needed


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=[p.name for p in DISTRIBUTIONS])
def test_every_import_is_declared(folder: Path) -> None:
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    own = {p.name for p in (folder / "src").iterdir() if p.is_dir() and not p.name.endswith(".egg-info")}
    declared = {normalize(project["name"])} | {requirement_name(r) for r in project.get("dependencies", [])}
    extras = {requirement_name(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs}
    missing = {d: m for d, m in needed_distributions(folder / "src", own).items() if d not in declared | extras}
    assert not missing, f"{project['name']}: imports of undeclared distributions {missing}"
    if (folder / "tests").is_dir():
        missing = {d: m for d, m in needed_distributions(folder / "tests", own).items() if d not in declared | extras}
        assert not missing, f"{project['name']} tests: imports of undeclared distributions {missing}"


PLUGINS = sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
PIPELINES = ("recplug_eval", "recplug_recsys")


@pytest.mark.parametrize("folder", PLUGINS, ids=[p.name for p in PLUGINS])
def test_plugins_use_only_the_public_api_of_the_pipeline_packages(folder: Path) -> None:
    """A plugin imports ``from recplug_eval import X`` (a name in its ``__all__``), never a submodule."""
    import recplug_eval
    import recplug_recsys

    public = {"recplug_eval": set(recplug_eval.__all__), "recplug_recsys": set(recplug_recsys.__all__)}
    wrong = []
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PIPELINES:
                names = {alias.name for alias in node.names}
                if node.module not in PIPELINES or names - public[node.module]:
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {sorted(names)}")
            elif isinstance(node, ast.Import):
                wrong += [f"{path.relative_to(ROOT)}:{node.lineno} import {a.name}" for a in node.names
                          if a.name.split(".")[0] in PIPELINES and a.name not in PIPELINES]
    assert not wrong, "imports beyond the public API:\n" + "\n".join(wrong)
