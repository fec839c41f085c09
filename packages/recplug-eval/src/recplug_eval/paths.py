"""Where shared data, caches and outputs live (computed, never hard-coded).

* Shared data: ``$RECPLUG_SHARED_DATA`` if set, else the first ``shared/data`` found in the current folder or
  one above it (a clone's ``../shared/data``). Never derived from this file's location, which is wrong for a
  non-editable install.
* Caches (encodings, MovieLens): ``$RECPLUG_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/recplug`` (``~/.cache/recplug``).
* Output folders: :func:`check_output_dir` refuses a file where a folder is wanted, before any work.
"""

from __future__ import annotations

import os
from pathlib import Path

from recplug.errors import ConfigError

ENV_SHARED_DATA = "RECPLUG_SHARED_DATA"
ENV_CACHE_DIR = "RECPLUG_CACHE_DIR"


def shared_data_dir() -> Path:
    """The read-only shared data folder (BEIR SciFact, MUVERA reference outputs).

    Raises:
        ConfigError: ``$RECPLUG_SHARED_DATA`` is unset and no ``shared/data`` folder is in or above the
            current folder.
    """
    env = os.environ.get(ENV_SHARED_DATA)
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    raise ConfigError(
        f"no shared data folder: set {ENV_SHARED_DATA}, or run from a folder with shared/data in or above it "
        f"(a clone of the repository beside ../shared); looked from {here}"
    )


def cache_dir() -> Path:
    """The folder for on-disk caches (created on first write by its users)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "recplug"


def check_output_dir(output_dir: str | Path, what: str = "output folder") -> Path:
    """``output_dir`` as a path, when it is a folder or can be made one: an existing file on the way (the
    folder itself or a parent) is a :class:`ConfigError` naming it and ``what`` (e.g. ``"--out"``)."""
    out = Path(output_dir)
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            where = "" if folder == out else f" (in {out})"
            raise ConfigError(f"{what} {folder}{where}: exists and is not a folder; name a folder")
        if folder.is_dir():
            break
    return out


def make_output_dir(output_dir: str | Path, what: str = "output folder") -> Path:
    """Create ``output_dir`` (and parents) after :func:`check_output_dir`; an OS failure names the folder."""
    out = check_output_dir(output_dir, what)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {out}: cannot be created ({exc.strerror or exc})") from exc
    return out
