"""Shared fixtures: small real SciFact slices and the bundled MiniLM vocabulary."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest


def shared_data() -> Path:
    env = os.environ.get("RECPLUG_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data"


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
