"""Shared fixtures: SciFact from the shared data folder, a 200-document slice, an encodings cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from recplug_eval.datasets.beir import BeirDataset, default_scifact_path, subset_beir


@pytest.fixture(scope="session")
def scifact_path() -> Path:
    path = default_scifact_path()
    assert path.is_dir(), f"shared SciFact data missing at {path}"
    return path


@pytest.fixture(scope="session")
def scifact(scifact_path: Path) -> BeirDataset:
    return BeirDataset(scifact_path, name="scifact")


@pytest.fixture(scope="session")
def scifact_slice(scifact: BeirDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 SciFact documents: those judged for the first 30 test queries, then corpus-order fillers."""
    return subset_beir(scifact, tmp_path_factory.mktemp("scifact200"), split="test", max_docs=200, max_queries=30)


@pytest.fixture(scope="session")
def encodings_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-session cache folder (``EvalConfig.cache_dir``) shared by tests that encode with MiniLM."""
    return tmp_path_factory.mktemp("recplug-cache")


@pytest.fixture(scope="session")
def minilm():
    """One MiniLM encoder per session (loading costs a few seconds)."""
    from recplug import load_plugin_manager

    return load_plugin_manager().create("retrieval_encoder", "minilm", num_threads=2)
