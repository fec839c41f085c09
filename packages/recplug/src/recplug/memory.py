"""Up-front memory checks: refuse, with an estimate, what cannot fit instead of attempting it.

A component that is about to allocate a size it computed from user input (rows of a table, partitions of
an FDE, ``k`` of a search) calls :func:`check_fits` first, so the user gets one clear line
(``ResourceError: FDE matrices need 149.0 GiB, 12.3 GiB available``) instead of a ``MemoryError`` from deep
inside numpy or torch, a swapping machine, or the OOM killer.
"""

from __future__ import annotations

import os

from recplug.errors import RecplugError

__all__ = ["ResourceError", "available_bytes", "check_fits", "format_bytes"]


#: Sizes below this are taken to fit without asking the operating system (every call of a search checks).
ALWAYS_FITS = 64 << 20


class ResourceError(RecplugError, MemoryError):
    """A call would need more memory than the machine has available (the message gives the estimate)."""


def available_bytes() -> int:
    """Memory the process may still allocate, in bytes: ``MemAvailable`` of ``/proc/meminfo`` (Linux),
    else free physical pages from ``os.sysconf``; a very large number when neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def format_bytes(nbytes: float) -> str:
    """``"149.0 GiB"``, ``"512 B"``: a size in binary units with one decimal."""
    value = float(nbytes)
    if abs(value) < 1024:
        return f"{int(value)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}"
    return f"{value:.1f} PiB"  # pragma: no cover


def check_fits(nbytes: int | float, what: str) -> None:
    """Raise :class:`ResourceError` when ``nbytes`` exceed the memory available now.

    Args:
        nbytes: the estimate of what the call will allocate.
        what: what needs it, for the message, e.g. ``"muvera FDE matrices (R=10**6, k_sim=5, D=384)"``.
    """
    if nbytes < ALWAYS_FITS:  # the common case (a search of a few queries) reads no file
        return
    available = available_bytes()
    if nbytes > available:
        raise ResourceError(f"{what} need about {format_bytes(nbytes)}, only {format_bytes(available)} is available")
