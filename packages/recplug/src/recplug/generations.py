"""Saving an index directory so that a save killed at any moment leaves the old index or the new one.

Each save writes its data under fresh names (``<role>-<token><suffix>``: a file, or a folder of files),
each file atomically, and then the manifest, atomically and last, naming them. Until the new manifest is
renamed into place the old manifest still names the old, untouched files; once it is, the old files are
deleted. A kill between those two steps leaves unreferenced files behind; the next save deletes them
(files of this save's roles and temporary files only: other files in the directory are left alone).

Why by hand: an index is several files plus a manifest, and no library swaps a set of files as one; a
directory cannot be renamed over a non-empty one, so the manifest's rename is the single commit point.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from recplug.errors import CorruptFileError
from recplug.fileio import read_json
from recplug.manifest import MANIFEST_NAME, IndexManifest, top_entry

#: ``role -> (suffix, write(path))``; ``write`` must write the file (or folder of files) at ``path``, each
#: file atomically. A folder role has the suffix ``"/"``.
Writers = Mapping[str, tuple[str, Callable[[Path], None]]]

#: ``<role>-<8 hex digits><suffix>``: a generation's name (and the role it belongs to).
_GENERATION = re.compile(r"^(?P<role>[A-Za-z0-9_]+)-[0-9a-f]{8}(\.[A-Za-z0-9]+)?$")


def _previous_entries(directory: Path) -> set[str]:
    """Top-level entries named by the manifest already in ``directory`` (none if missing or unreadable)."""
    if not (directory / MANIFEST_NAME).exists():
        return set()
    try:
        raw = read_json(directory / MANIFEST_NAME)
    except CorruptFileError:
        return set()
    files = raw.get("files") if isinstance(raw, dict) else None
    if not isinstance(files, dict):
        return set()
    return {entry for entry in map(top_entry, files) if entry and entry != MANIFEST_NAME}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _stale(directory: Path, roles: set[str], keep: set[str]) -> list[Path]:
    """Leftovers of killed saves: generations of ``roles`` not in ``keep`` and our temporary files."""
    stale = []
    for entry in directory.iterdir():
        name = entry.name
        match = _GENERATION.match(name)
        if match and match["role"] in roles and name not in keep:
            stale.append(entry)
        elif name.startswith(".") and name.endswith(".tmp"):
            target = name[1:-4].rsplit(".", 1)[0]  # ".<target>.<random>.tmp", as recplug.fileio names them
            generation = _GENERATION.match(target)
            if target == MANIFEST_NAME or (generation and generation["role"] in roles):
                stale.append(entry)
    return stale


def save_generation(directory: Path, writers: Writers, manifest: IndexManifest) -> dict[str, str]:
    """Write every role of ``writers``, then ``manifest``, into ``directory``; delete the old generation.

    The name of each role is recorded in ``manifest.params["layout"]`` (role -> name) and every file is
    checksummed into ``manifest.files``. Returns the layout.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    previous = _previous_entries(directory)
    token = secrets.token_hex(4)
    layout: dict[str, str] = {}
    try:
        for role, (suffix, write) in writers.items():
            name = f"{role}-{token}" if suffix == "/" else f"{role}-{token}{suffix}"
            layout[role] = name
            write(directory / name)
        files = []
        for name in layout.values():
            target = directory / name
            if target.is_dir():
                files += [p.relative_to(directory).as_posix() for p in sorted(target.rglob("*")) if p.is_file()]
            else:
                files.append(name)
        manifest.params = {**manifest.params, "layout": dict(layout)}
        manifest.files = dict.fromkeys(files, "")
        manifest.write(directory)
    except BaseException:
        for name in layout.values():
            _remove(directory / name)
        raise
    keep = set(layout.values())
    for name in previous - keep:
        _remove(directory / name)
    for path in _stale(directory, set(writers), keep):
        _remove(path)
    return layout


def file_of(manifest: IndexManifest, directory: Path, role: str, legacy: str) -> Path:
    """Where ``role`` lives in a saved ``directory``: the manifest's layout, or ``legacy`` (the fixed name
    that earlier saves used)."""
    layout = manifest.params.get("layout") if isinstance(manifest.params, dict) else None
    name = layout.get(role, legacy) if isinstance(layout, dict) else legacy
    if not isinstance(name, str) or top_entry(name) is None:
        raise CorruptFileError(f"{directory / MANIFEST_NAME}: layout entry for {role!r} is not a safe file name")
    return Path(directory) / name
