"""Plain-text and markdown tables for listings and reports (no dependencies)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _cell(value: Any, floatfmt: str) -> str:
    if isinstance(value, float):
        return format(value, floatfmt)
    return "" if value is None else str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], floatfmt: str = ".4f") -> str:
    """A GitHub-flavoured markdown table; floats formatted with ``floatfmt``; columns padded to align."""
    cells = [[_cell(v, floatfmt) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) and rows for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True)))
            + " |"
        )

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if numeric[i] else "-" * w for i, w in enumerate(widths)) + " |"
    return "\n".join([line(list(headers)), rule, *(line(r) for r in cells)])
