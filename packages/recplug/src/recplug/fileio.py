"""Safe file writing and checking, shared by everything that saves state.

Writes go to a temporary file in the destination folder, are flushed and fsynced, then renamed over the
destination, so an interrupted save never destroys what was there before. The file gets the mode an
ordinary ``open(path, "w")`` would give it (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.
A folder of files at fixed names is written whole into a staging folder and swapped in (:func:`atomic_folder`).
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from recplug.errors import CorruptFileError


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, as in the standard library)
    os.umask(mask)
    return mask


def _temporary(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path`` with an ordinary file's mode: ``(fd, name)``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


@contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success rename it to ``path``, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_writer(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_save_with(path: str | os.PathLike[str], save: Callable[[str], None]) -> None:
    """Call ``save(tmp_path)`` (a library writer that wants a file name, e.g. ``faiss.write_index`` or
    ``torch.save``) on a temporary path, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    os.close(fd)
    try:
        save(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``, macOS
    ``renamex_np(RENAME_SWAP)``); False where the system or file system cannot."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to call
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):  # pragma: no cover - macOS
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), 2)
    else:  # pragma: no cover - other systems
        return False
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # pragma: no cover
        return False
    raise OSError(error, os.strerror(error), str(a), None, str(b))


@contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; on success it replaces the folder ``path`` as a whole,
    on error it is removed.

    For an artifact that is a folder of files at fixed names (a dataset folder): write every file into the
    staging folder, and the swap (one ``renameat2(RENAME_EXCHANGE)``, or a plain rename where ``path`` does
    not exist yet) is the single commit point, so a save killed at any moment leaves the old folder or the
    new one. Everything in the old folder is replaced, files this save did not write included. Leftover
    staging folders of killed saves (``.<name>.<random>.tmp``) are removed after a successful save. Where the
    system cannot exchange two paths, the old folder is renamed aside first (a short window without it).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(staging, 0o777 & ~_umask())
    lock = _lock_folder(staging)  # held while writing: another process's save leaves this staging folder alone
    try:
        yield staging
        if not path.exists():
            os.rename(staging, path)
        elif not _exchange(staging, path):  # pragma: no cover - systems without an exchange
            aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
            os.rename(path, aside / "old")
            os.rename(staging, path)
            staging = aside
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(lock)
    # ``staging`` now holds the old folder; then the leftovers of killed saves of this folder (a killed process
    # holds no lock; a staging folder still locked is another process's save in progress)
    shutil.rmtree(staging, ignore_errors=True)
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if leftover.is_dir() and not leftover.is_symlink():
            try:
                other = _lock_folder(leftover, wait=False)
            except OSError:  # locked by a live writer, or gone meanwhile
                continue
            try:
                shutil.rmtree(leftover, ignore_errors=True)
            finally:
                os.close(other)


def _lock_folder(folder: Path, wait: bool = True) -> int:
    """An exclusive ``flock`` on ``folder`` (the open descriptor; closing it, or the process ending, releases the
    lock). ``wait=False``: :class:`OSError` at once when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock (leftovers are then removed regardless)
        return os.open(folder, os.O_RDONLY)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        raise
    return fd


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a missing or unparsable file is a :class:`CorruptFileError` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CorruptFileError(f"{path}: file is missing") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: not valid JSON ({exc})") from exc
