"""Every ``torch.nn.Module`` subclass in our distributions has an ``Example::`` in its docstring, and it runs.

The modules are found by importing every module under ``packages/*/src`` and ``plugins/*/src`` (torchrec's
habit, STYLE.md: each ``nn.Module`` shows how to build it with tiny sizes and the shape of what it returns).
Each class's examples run as doctests (:class:`doctest.DocTestFinder` / :class:`doctest.DocTestRunner`) in the
namespace of the module that defines the class, on the CPU.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import pkgutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = sorted([*ROOT.glob("packages/*/src"), *ROOT.glob("plugins/*/src")])


def module_names() -> list[str]:
    """Every importable module of our distributions (packages under each ``src``, recursively)."""
    names = []
    for src in SOURCE_ROOTS:
        for package in sorted(p for p in src.iterdir() if (p / "__init__.py").exists()):
            names.append(package.name)
            names += [m.name for m in pkgutil.walk_packages([str(package)], prefix=package.name + ".")]
    return names


def nn_modules() -> tuple[list[tuple[str, type]], dict[str, str]]:
    """``(dotted name, class)`` of every ``torch.nn.Module`` subclass defined (not imported) in our modules, and
    the modules that failed to import (name -> error)."""
    found, errors = {}, {}
    for name in module_names():
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # reported by test_every_module_imports, not as a collection error
            errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        for cls in list(vars(module).values()):  # not inspect.getmembers: it would resolve lazy attributes
            if inspect.isclass(cls) and cls.__module__ == name and issubclass(cls, torch.nn.Module):
                found[f"{name}.{cls.__qualname__}"] = cls
    return sorted(found.items()), errors


MODULES, IMPORT_ERRORS = nn_modules()


def test_every_module_imports() -> None:
    # troubleshooting: a module that cannot be imported cannot be searched for nn.Modules
    assert not IMPORT_ERRORS, IMPORT_ERRORS


def test_modules_are_found() -> None:
    # troubleshooting: zero means the discovery above broke (e.g. the src layout moved), not that there are none
    assert len(MODULES) >= 10, [name for name, _ in MODULES]


@pytest.mark.parametrize("name, cls", MODULES, ids=[name for name, _ in MODULES])
def test_module_example_runs(name: str, cls: type) -> None:
    doc = inspect.getdoc(cls) or ""
    # troubleshooting: add an "Example::" section to the class docstring that builds the module with tiny
    # sizes and shows an output shape (see recplug_dynamic_sparse.sparse_rows.DenseRows)
    assert "Example" in doc and "::" in doc, f"{name}: its docstring has no Example:: section"
    module = importlib.import_module(cls.__module__)
    tests = doctest.DocTestFinder(recurse=False).find(cls, name, module=module, globs=vars(module).copy())
    examples = sum(len(t.examples) for t in tests)
    assert examples, f"{name}: its Example:: section has no >>> lines"
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    torch.manual_seed(0)
    for test in tests:
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} example lines failed\n{out.getvalue()}"
