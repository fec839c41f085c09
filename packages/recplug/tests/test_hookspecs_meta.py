"""Meta-tests: every hook spec is documented with the required parts, its example runs, and it is tested."""

from __future__ import annotations

import doctest
import inspect
from pathlib import Path

import pytest
from recplug import hookspecs
from recplug.manager import _HOOK_OF

SPECS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("recplug_"))
REPO = Path(__file__).resolve().parents[3]


def test_there_is_a_hook_per_family_and_commands():
    assert sorted(_HOOK_OF.values()) == SPECS


@pytest.mark.parametrize("name", SPECS)
def test_spec_docstring_has_required_sections(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    for section in ("Arguments:", "Returns:", "Combine:", "Example:"):
        assert section in doc, f"{name} docstring lacks {section!r}"
    assert ">>>" in doc, f"{name} example has no runnable code"


@pytest.mark.parametrize("name", SPECS)
def test_spec_example_runs(name):
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(hookspecs) if t.name.endswith(f".{name}")]
    assert tests and tests[0].examples
    result = runner.run(tests[0])
    assert result.failed == 0, f"{name}: {result.failed} example lines failed"


@pytest.mark.parametrize("name", SPECS)
def test_spec_is_exercised_by_some_test(name):
    """Each hook is implemented by a plugin whose tests exist (the fake plugins or a package's plugin)."""
    sources = [p.read_text() for p in (REPO / "packages").glob("*/tests/*.py")]
    sources += [p.read_text() for p in (REPO / "packages").glob("*/src/*/plugin.py")]
    sources += [p.read_text() for p in (REPO / "packages" / "recplug" / "src" / "recplug" / "builtins").glob("*.py")]
    assert any(name in s for s in sources), f"no test or plugin implements {name}"


def test_hookspecs_take_no_positional_arguments():
    for name in SPECS:
        assert not inspect.signature(getattr(hookspecs, name)).parameters, name
