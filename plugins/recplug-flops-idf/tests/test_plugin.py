"""The entry point resolves through the core's loader and names every component."""

from __future__ import annotations

import subprocess
import sys

import recplug


def test_components_resolve_through_the_plugin_manager():
    pm = recplug.load_plugin_manager()
    assert pm.create("regularizer", "flops").name == "flops"
    assert pm.create("regularizer", "flops-idf", weight=0.1, warmup_steps=5).schedule(4) == 0.1
    assert pm.create("retrieval_index", "sparse-inverted", dimension=30522).dimension == 30522


def test_loading_the_plugin_imports_nothing_heavy():
    code = (
        "import sys, recplug_flops_idf.plugin as p; [s.name for s in p.recplug_regularizers()];"
        "heavy = [m for m in ('torch', 'transformers', 'scipy') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
