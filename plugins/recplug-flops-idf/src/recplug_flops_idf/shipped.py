"""Heads that ship with the plugin: ``recplug_flops_idf/heads/<name>.pt``, listed in ``heads/heads.json`` with
their SHA-256, size and the command that trained them. :func:`shipped_head` checks the checksum before a head
is used, so a damaged or swapped file is a :class:`recplug.errors.CorruptFileError`, never a silently different
model."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from recplug.errors import ConfigError, CorruptFileError
from recplug.fileio import read_json, sha256_file


def heads_folder() -> Path:
    """The installed package's ``recplug_flops_idf/heads`` folder."""
    return Path(str(resources.files("recplug_flops_idf.heads")))


def manifest(folder: Path | None = None) -> dict[str, Any]:
    """``heads.json``: name -> ``{"file", "sha256", "bytes", "command", ...}`` (empty when none ship)."""
    path = (folder or heads_folder()) / "heads.json"
    return dict(read_json(path)) if path.exists() else {}


def shipped_head(name: str, folder: Path | None = None) -> Path:
    """The path of shipped head ``name`` (in ``folder``, default :func:`heads_folder`) after checking its SHA-256
    against ``heads.json``."""
    folder = folder or heads_folder()
    heads = manifest(folder)
    if name not in heads:
        raise ConfigError(f"no shipped sparse head {name!r}; shipped: {', '.join(sorted(heads)) or 'none'}")
    entry = heads[name]
    path = folder / entry["file"]
    if not path.exists():
        raise CorruptFileError(f"{path}: shipped head {name!r} is missing from the installed package")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise CorruptFileError(f"{path}: SHA-256 {digest[:12]}… does not match heads.json's {entry['sha256'][:12]}…; "
                               f"retrain it with: {entry['command']}")
    return path
