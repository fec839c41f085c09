"""Text files read line by line with errors that name the file and the line (BEIR folders, TREC run files).

Each line is decoded on its own, so a byte that is not UTF-8 is reported at its line (a text-mode ``open``
decodes 8 KiB blocks and its ``UnicodeDecodeError`` names neither file nor line). A UTF-8 byte-order mark
at the start of the file is dropped (files saved by some Windows editors begin with one).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Generator
from pathlib import Path

from recplug.errors import InvalidInputError


def text_lines(path: Path) -> Generator[tuple[int, str], None, None]:
    """Yield ``(line number, line)`` of a UTF-8 text file (``.gz``: gzip-compressed). A missing or unreadable
    file, or a line that is not UTF-8, is an :class:`InvalidInputError` naming the file (and the line)."""
    try:
        handle = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    except FileNotFoundError as exc:
        raise InvalidInputError(f"{path}: file is missing") from exc
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    number = 0
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidInputError(
                        f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                    ) from None
                yield number, line
        except (gzip.BadGzipFile, EOFError, OSError) as exc:
            raise InvalidInputError(f"{path}: cannot be read after line {number} ({exc})") from exc


class NumberedLines(io.TextIOBase):
    """The lines of :func:`text_lines` as a read-only text file, for readers that take a file object (such as
    ``ir_measures.read_trec_run``); :attr:`number` and :attr:`line` are the line handed out last, for errors."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._lines = text_lines(path)
        self.number, self.line = 0, ""

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]  # ``for line in file`` calls it
        self.number, self.line = next(self._lines, (self.number, ""))
        return self.line

    def close(self) -> None:
        self._lines.close()  # closes the file, also when a reader stops half way
        super().close()
