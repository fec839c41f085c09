"""nox sessions, discovered from packages/*/pyproject.toml and plugins/*/pyproject.toml.

    nox -l                       list sessions
    nox -s "tests(recplug-ssl)"  one package's tests in a venv holding only it and its declared dependencies
    nox -s integration           cross-package tests (all packages installed)
    nox -s lint typecheck        ruff and mypy
    nox -s bench                 every benchmark's quick mode (tools/bench/*/bench.toml; -- NAME... for some)
    nox -s gpu                   GPU-marked tests (opt-in; needs CUDA, faiss-gpu and fbgemm-gpu)

Every venv gets torch 2.13.0 (the CPU wheel via pip) and, where a package needs torchrec, fbgemm-gpu-cpu plus
torchrec installed with --no-deps so that the CUDA fbgemm-gpu is never pulled.
"""

from __future__ import annotations

from pathlib import Path

import nox
import tomllib

ROOT = Path(__file__).parent
CONSTRAINTS = ("-c", "tools/env/constraints-cpu.txt")
TORCHREC_USERS = {"recplug", "recplug-recsys"}
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "integration", "lint"]


def _packages() -> dict[str, Path]:
    found = {}
    for pyproject in sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("plugins/*/pyproject.toml")]):
        found[tomllib.loads(pyproject.read_text())["project"]["name"]] = pyproject.parent
    return found


PACKAGES = _packages()


def _local_dependencies(name: str, seen: set[str] | None = None, extras: tuple[str, ...] = ()) -> list[str]:
    """``name`` and the workspace packages it depends on (also through ``extras`` of ``name`` itself, e.g.
    a plugin whose tests use recplug-eval), dependencies first."""
    seen = set() if seen is None else seen
    order: list[str] = []
    project = tomllib.loads((PACKAGES[name] / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in extras:
        requirements += project.get("optional-dependencies", {}).get(extra, [])
    for requirement in requirements:
        dep = requirement.split(";")[0].split("[")[0].strip()
        for sep in "<>=!~ ":
            dep = dep.split(sep)[0]
        if dep in PACKAGES and dep not in seen:
            seen.add(dep)
            order += _local_dependencies(dep, seen)
    return [*order, name]


def _install(session: nox.Session, names: list[str]) -> None:
    session.install("torch==2.13.0", *CONSTRAINTS)
    if TORCHREC_USERS & set(names):
        session.install("fbgemm-gpu-cpu==1.8.0", "tensordict", "torchmetrics==1.0.3", "pyre-extensions", *CONSTRAINTS)
        session.install("--no-deps", "torchrec==1.8.0")
    editable = [arg for n in names for arg in ("-e", f"{PACKAGES[n]}[test]" if n == names[-1] else str(PACKAGES[n]))]
    session.install(*editable, "pytest-timeout", *CONSTRAINTS)


@nox.session
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """One package's tests, in a venv with only that package and its declared dependencies."""
    _install(session, _local_dependencies(package, extras=("test",)))
    session.run("pytest", str(PACKAGES[package] / "tests"), *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Cross-package tests with every package installed."""
    _install(session, list(PACKAGES))
    session.run("pytest", "integration_tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff", *CONSTRAINTS)
    session.run("ruff", "check", "packages", "plugins", "integration_tests", "tools", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("mypy", "-e", str(PACKAGES["recplug"]), *CONSTRAINTS)
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark's quick mode: a tiny real configuration of each, end to end, as its folder's bench.toml
    declares (tools/bench/run_quick.py); outputs go to a temporary folder, never over the committed results.
    ``nox -s bench -- faiss_ann ssl`` runs some, ``-- --slow`` also those marked slow (muvera). The full runs are
    the commands in each benchmark's results.md."""
    session.install("-r", "tools/env/requirements-cpu.txt", *CONSTRAINTS)  # the benchmarks' peers too (setup.sh)
    session.install("--no-deps", "torchrec==1.8.0")
    session.install(*[arg for p in PACKAGES.values() for arg in ("-e", str(p))], *CONSTRAINTS)
    session.run("python", "tools/bench/run_quick.py", *session.posargs)


@nox.session
def gpu(session: nox.Session) -> None:
    """GPU-marked tests on a CUDA machine (installs tools/env/requirements-gpu.txt)."""
    session.install("-r", "tools/env/requirements-gpu.txt")
    session.install("--no-deps", "torchrec==1.8.0")
    session.install(*[arg for p in PACKAGES.values() for arg in ("-e", str(p))])
    session.run("pytest", "-m", "gpu", *session.posargs)
