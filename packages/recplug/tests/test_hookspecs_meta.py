"""Meta-tests: every hook spec is documented with the required parts, its example runs, and it is tested."""

from __future__ import annotations

import doctest
import inspect

import pytest
from recplug import hookspecs
from recplug.manager import _HOOK_OF

SPECS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("recplug_"))


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


def _record_for(family: str):
    """A minimal valid record of ``family`` (the type the hook must return)."""
    from recplug.manager import _RECORD_OF
    from recplug.records import CommandSpec, DemoStep

    if family == "command":
        return CommandSpec(f"meta-{family}", "a command", configure=lambda parser: None, run=lambda args, pm: 0)
    if family == "demo_step":
        return DemoStep(f"meta-{family}", "a step", run=lambda context: "")
    return _RECORD_OF[family](f"meta-{family}", factory=dict)


@pytest.mark.parametrize("family", sorted(_HOOK_OF))
def test_every_hook_reaches_the_manager_through_pluggy(family):
    """A plugin implementing the hook gets its record listed (and typed) by the manager."""
    from recplug import hookimpl
    from recplug.manager import RecplugPluginManager

    record = _record_for(family)
    plugin = type("Plugin", (), {_HOOK_OF[family]: staticmethod(hookimpl(lambda: [record]))})()
    pm = RecplugPluginManager()
    pm.register_plugin(plugin, "meta", "meta-dist", "1.0")
    pm.check_pending()
    assert pm.components_of(family) == {record.name: record}
    assert pm.distribution_of_component(family, record.name) == "meta-dist"


def test_hookspecs_take_no_positional_arguments():
    for name in SPECS:
        assert not inspect.signature(getattr(hookspecs, name)).parameters, name
