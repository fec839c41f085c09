"""Fixtures for the core's tests: fake installed distributions with recplug entry points."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from recplug.testing.fake_plugins import install_fake_distribution

GOOD = """
from recplug import hookimpl, IndexCapabilities, RegularizerSpec, RetrievalIndexSpec

@hookimpl
def recplug_regularizers():
    return [RegularizerSpec("fake-reg", factory=dict, description="a fake regularizer")]

@hookimpl
def recplug_retrieval_indexes():
    return [RetrievalIndexSpec("fake-index", factory=dict, capabilities=IndexCapabilities(supports_save=True))]
"""
BROKEN = 'raise ImportError("fake_broken needs a library that is not installed")\n'
CLASH = """
from recplug import hookimpl, RegularizerSpec

@hookimpl
def recplug_regularizers():
    return [RegularizerSpec("same-name", factory=dict)]
"""
WRONG_TYPE = """
from recplug import hookimpl

@hookimpl
def recplug_regularizers():
    return ["not a record"]
"""
MISSPELLED = """
from recplug import hookimpl, RegularizerSpec

@hookimpl
def recplug_regularisers():  # not a hook of recplug: pluggy's check_pending must catch it
    return [RegularizerSpec("never-seen", factory=dict)]
"""
DEMO = """
from recplug import hookimpl, DemoStep

@hookimpl
def recplug_demo_steps():
    return [DemoStep("fake-step", "A fake step", run=lambda context: "fake section", order=7)]
"""
PLUGINS = {
    "fake-good": ("fake_good", GOOD),
    "fake-broken": ("fake_broken", BROKEN),
    "fake-clash-a": ("fake_clash_a", CLASH),
    "fake-clash-b": ("fake_clash_b", CLASH),
    "fake-wrong-type": ("fake_wrong_type", WRONG_TYPE),
    "fake-misspelled": ("fake_misspelled", MISSPELLED),
    "fake-demo": ("fake_demo", DEMO),
}


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site folder on sys.path holding one installed distribution per fake plugin."""
    for dist, (module, source) in PLUGINS.items():
        install_fake_distribution(tmp_path, dist, module, source)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for _, (module, _) in PLUGINS.items():
        sys.modules.pop(module, None)
