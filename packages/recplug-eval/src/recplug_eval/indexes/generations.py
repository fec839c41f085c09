"""Saving an index directory so that a failed save never destroys the previous one.

Each save writes its data files under fresh names (``<role>-<token><suffix>``), each atomically, and
then the manifest (atomically, last) that names them. Until the new manifest is in place the old manifest
still points at the old, untouched files; once it is, the old files are deleted. Other files in the
directory are left alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from recplug.errors import CorruptFileError
from recplug.fileio import read_json
from recplug.manifest import MANIFEST_NAME, IndexManifest

#: ``role -> (suffix, write(path))``; ``write`` must write the file at ``path`` atomically.
Writers = Mapping[str, tuple[str, Callable[[Path], None]]]


def _previous_files(directory: Path) -> set[str]:
    """Data files named by the manifest already in ``directory`` (none if it is missing or unreadable)."""
    if not (directory / MANIFEST_NAME).exists():
        return set()
    try:
        raw = read_json(directory / MANIFEST_NAME)
    except CorruptFileError:
        return set()
    files = raw.get("files") if isinstance(raw, dict) else None
    return {name for name in files if "/" not in name and "\\" not in name} if isinstance(files, dict) else set()


def save_generation(directory: Path, writers: Writers, manifest: IndexManifest) -> dict[str, str]:
    """Write every file of ``writers`` and then ``manifest`` into ``directory``.

    The file name of each role is recorded in ``manifest.params["layout"]`` (role -> file name) and the
    files are checksummed into ``manifest.files``. Returns the layout.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    previous = _previous_files(directory)
    token = secrets.token_hex(4)
    layout: dict[str, str] = {}
    try:
        for role, (suffix, write) in writers.items():
            layout[role] = f"{role}-{token}{suffix}"
            write(directory / layout[role])
        manifest.params = {**manifest.params, "layout": dict(layout)}
        manifest.files = dict.fromkeys(layout.values(), "")
        manifest.write(directory)
    except BaseException:
        for name in layout.values():
            (directory / name).unlink(missing_ok=True)
        raise
    for name in previous - set(layout.values()):
        (directory / name).unlink(missing_ok=True)
    return layout
