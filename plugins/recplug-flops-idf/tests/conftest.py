"""Shared fixtures: small real SciFact slices and the bundled MiniLM vocabulary."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest


def shared_data() -> Path:
    from recplug_eval import shared_data_dir

    return shared_data_dir()


@pytest.fixture(scope="session")
def scifact_docs() -> list[str]:
    """The first 200 SciFact documents (title + text)."""
    path = shared_data() / "beir" / "scifact" / "corpus.jsonl.gz"
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line, _ in zip(handle, range(200), strict=False):
            obj = json.loads(line)
            docs.append(f"{obj['title']} {obj['text']}".strip())
    return docs


@pytest.fixture(scope="session")
def vocab():
    from recplug_flops_idf.vocab import load_vocabulary

    return load_vocabulary()


@pytest.fixture(scope="session", autouse=True)
def recplug_cache(tmp_path_factory):
    """A per-session recplug cache folder: the encoder's document cache and the student's states never go to
    the user's ``~/.cache/recplug``."""
    import os

    path = tmp_path_factory.mktemp("recplug-cache")
    old = os.environ.get("RECPLUG_CACHE_DIR")
    os.environ["RECPLUG_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("RECPLUG_CACHE_DIR", None)
    else:
        os.environ["RECPLUG_CACHE_DIR"] = old
