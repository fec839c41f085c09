"""Where shared data and caches live (computed, never hard-coded).

* Shared data: ``$RECPLUG_SHARED_DATA`` if set, else ``<repo root>/../shared/data``.
* Caches (encodings): ``$RECPLUG_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/recplug`` (``~/.cache/recplug``).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_SHARED_DATA = "RECPLUG_SHARED_DATA"
ENV_CACHE_DIR = "RECPLUG_CACHE_DIR"


def repo_root() -> Path:
    """The monorepo root of an editable install (``packages/recplug-eval/src/recplug_eval`` is 4 levels down)."""
    return Path(__file__).resolve().parents[4]


def shared_data_dir() -> Path:
    """The read-only shared data folder."""
    env = os.environ.get(ENV_SHARED_DATA)
    return Path(env) if env else repo_root().parent / "shared" / "data"


def cache_dir() -> Path:
    """The folder for on-disk caches (created on first write by its users)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "recplug"
