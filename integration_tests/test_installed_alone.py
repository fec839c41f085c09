"""Each plugin installed alone from a wheelhouse, non-editable, passes its own tests (issue 31).

``tools/wheels/build.sh`` builds the wheelhouse (sdist, then the wheel from the unpacked sdist). Then, per
plugin, a fresh virtual environment gets only the plugin's wheel and the wheels of the recplug distributions
it declares (``dependencies`` and its ``test`` extra), installed non-editable with ``--no-deps``; the plugin's
tests run there. An import of a recplug distribution the plugin does not declare fails here.

Why a view of the workspace venv for third-party packages: installing torch, torchrec (the CPU way),
sentence-transformers, FAISS... into four fresh venvs would take most of CI's time. The child venv sees the
workspace's third-party packages through a ``.pth`` file pointing at a folder of links that leaves out every
recplug distribution (and its editable-install hooks). Undeclared *third-party* imports are caught statically
by ``test_declared_dependencies.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import tomllib

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = {
    tomllib.loads(p.read_text())["project"]["name"]: p.parent
    for p in [*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("plugins/*/pyproject.toml")]
}
PLUGINS = sorted(name for name, folder in PROJECTS.items() if folder.parent.name == "plugins")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0]


def local_closure(name: str, extras: tuple[str, ...] = ()) -> list[str]:
    """``name`` and every recplug distribution it declares (through ``extras`` too), recursively."""
    project = tomllib.loads((PROJECTS[name] / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in extras:
        requirements += project.get("optional-dependencies", {}).get(extra, [])
    found = [name]
    for dep in (_name(r) for r in requirements):
        if dep in PROJECTS and dep not in found:
            found += [d for d in local_closure(dep) if d not in found]
    return found


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    env = {**os.environ, "OUTDIR": str(out), "BUILD_ARGS": "--no-isolation", "PYTHON": sys.executable}
    subprocess.run(["bash", str(ROOT / "tools" / "wheels" / "build.sh")], check=True, env=env, capture_output=True)
    return out


@pytest.fixture(scope="module")
def third_party_view(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder linking every entry of this interpreter's site-packages except recplug's own."""
    view = tmp_path_factory.mktemp("third-party")
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if entry.name.lower().startswith(("recplug", "__editable__", "_recplug")) or entry.suffix == ".pth":
            continue
        (view / entry.name).symlink_to(entry)
    return view


def wheel_of(wheelhouse: Path, name: str) -> Path:
    (wheel,) = wheelhouse.glob(f"{name.replace('-', '_')}-*.whl")
    return wheel


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_installed_alone_passes_its_tests(plugin: str, wheelhouse: Path, third_party_view: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "_third_party.pth").write_text(f"{third_party_view}\n")
    wheels = [str(wheel_of(wheelhouse, name)) for name in local_closure(plugin, extras=("test",))]
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--disable-pip-version-check", *wheels], check=True, capture_output=True)
    check = subprocess.run([str(python), "-c", "import importlib.metadata as m; import recplug; "
                            "print(sorted(d.metadata['Name'] for d in m.distributions() if d.metadata['Name'].startswith('recplug'))); "
                            "print(recplug.__file__)"], capture_output=True, text=True, check=True)
    installed, location = check.stdout.splitlines()
    assert str(venv) in location, f"recplug imported from {location}, not the fresh venv"
    assert "recplug-eval" in installed or "recplug-eval" not in local_closure(plugin, ("test",)), installed
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "RECPLUG_PLUGINS", "RECPLUG_BLOCK"))}
    result = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not gpu",
         str(PROJECTS[plugin] / "tests")],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
    assert result.returncode == 0, f"{plugin} installed alone: its tests failed\n{tail}"
    assert " passed" in tail.splitlines()[-1], tail
