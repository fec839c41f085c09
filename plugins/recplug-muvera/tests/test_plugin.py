"""The entry point resolves through the core's loader, and loading it imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

from recplug.manager import load_plugin_manager


def test_components_resolve_through_the_core_loader() -> None:
    pm = load_plugin_manager()
    assert pm.get("retrieval_encoder", "muvera").name == "muvera"
    assert pm.get("retrieval_encoder", "minilm-tokens").index == "muvera-chamfer"
    index = pm.create("retrieval_index", "muvera-chamfer", dimension=8, num_repetitions=2, num_simhash_projections=2)
    assert index.capabilities.input == "multivector" and index.fde_dimension == 2 * 4 * 16
    assert "recplug_muvera" in pm.distribution_of("recplug-muvera").replace("-", "_")


def test_loading_the_plugin_imports_no_heavy_library() -> None:
    code = (
        "import sys; import recplug_muvera.plugin; "
        "print(sorted(m for m in ('torch', 'faiss', 'transformers', 'sentence_transformers', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
