"""Progress that reads well on a terminal and in a log file.

On a terminal (stderr is a TTY) :func:`progress` is a tqdm bar. Otherwise (a log file, a pipe, CI) it prints
plain lines to stderr: one when it starts, one at each quarter of ``total`` (when the total is known) and
one when it is done, with the elapsed time (a transient bar, ``leave=False``, prints only the last). It never writes ``\\r`` or cursor moves (``ESC[A``), so a log
holds only readable lines::

    from recplug_eval.progress import progress

    for batch in progress(batches, desc="encode documents", unit="batch"):
        ...
    with progress(total=len(texts), desc="minilm: documents", unit="text") as bar:
        bar.update(256)

Both kinds take the same arguments and offer ``update``, ``set_postfix``, ``close``, iteration and ``with``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

#: fractions of ``total`` at which a plain (non-TTY) progress prints a line
MILESTONES = (0.25, 0.5, 0.75)


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: ``sys.stderr``) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or fake stream
        return False


def format_seconds(seconds: float) -> str:
    """``41.2 s``, ``3 min 05 s``, ``1 h 02 min``: elapsed times in plain lines and reports."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class PlainProgress:
    """The non-TTY form of :func:`progress`: a start line, a line per quarter, a done line (see the module);
    a transient bar (``leave=False``, e.g. one per epoch) prints only its done line."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        disable: bool = False,
        file: IO[str] | None = None,
        leave: bool = True,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable = iterable
        self.total = total
        self.desc = desc or "progress"
        self.unit = unit
        self.disable = disable
        self.file = file
        self.leave = leave
        self.n: float = 0
        self.postfix = ""
        self._next = 0  # index into MILESTONES
        self._start = time.perf_counter()
        self._closed = False
        if leave:
            self._print(f"{self.desc}: start" + (f" ({self._count(self.total)} {unit})" if self.total else ""))

    @staticmethod
    def _count(value: float | None) -> str:
        return "?" if value is None else f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"

    def _print(self, line: str) -> None:
        if not self.disable:
            print(line, file=self.file if self.file is not None else sys.stderr, flush=True)

    def update(self, n: float = 1) -> None:
        self.n += n
        if not self.total or not self.leave:
            return
        crossed = None
        while self._next < len(MILESTONES) and self.n >= MILESTONES[self._next] * self.total:
            crossed = MILESTONES[self._next]
            self._next += 1
        if crossed is not None and self.n < self.total:
            elapsed = format_seconds(time.perf_counter() - self._start)
            self._print(f"{self.desc}: {self._count(self.n)}/{self._count(self.total)} {self.unit} "
                        f"({100 * self.n / self.total:.0f}%, {elapsed}){self.postfix}")

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        """Kept for the next plain line (``, loss=0.41``), as tqdm shows it beside the bar."""
        items = {**(dict(ordered_dict) if ordered_dict else {}), **kwargs}
        self.postfix = "".join(f", {k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or self.desc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        done = f"{self._count(self.n)} {self.unit}, " if self.n else ""
        self._print(f"{self.desc}: done ({done}{format_seconds(time.perf_counter() - self._start)}){self.postfix}")

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("progress(total=...) without an iterable is not iterable; call update()")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    iterable: Iterable[Any] | None = None,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    leave: bool = True,
    file: IO[str] | None = None,
) -> Any:
    """A tqdm bar when ``file`` (default: stderr) is a terminal, else a :class:`PlainProgress`.

    Args:
        iterable: items to iterate over (optional; without it, call ``update(n)``).
        total: expected number of items (default: ``len(iterable)`` where it has one).
        desc, unit: label and unit, as in tqdm.
        disable: show nothing (e.g. for small inputs or non-zero ranks).
        leave: keep the finished bar on a terminal (tqdm's ``leave``); in a log, ``leave=False`` prints only
            the done line (one line per epoch, not five).
        file: where to write (default: ``sys.stderr``).
    """
    if is_terminal(file):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave, file=file)
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, disable=disable, file=file, leave=leave)
