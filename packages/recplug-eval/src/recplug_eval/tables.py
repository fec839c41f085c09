"""Markdown tables for reports, listings and benchmark results, written by ``tabulate``.

One call fixes the options every table here shares: GitHub's pipe tables with alignment colons (numbers
right-aligned), floats formatted with ``floatfmt``, ``None`` as an empty cell, and strings kept exactly as
the caller formatted them (tabulate would otherwise read ``"0.50"`` as a number and reformat it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], floatfmt: str | Sequence[str] = ".4f") -> str:
    """A GitHub-flavoured markdown table; floats formatted with ``floatfmt`` (one format, or one per column);
    columns padded to align.

    Example::

        >>> print(markdown_table(["system", "nDCG@10", "note"], [["bm25", 0.68612, "1.50x"], ["dense", 0.64, None]]))
        | system   |   nDCG@10 | note   |
        |:---------|----------:|:-------|
        | bm25     |    0.6861 | 1.50x  |
        | dense    |    0.6400 |        |
    """
    from tabulate import tabulate

    text_columns = [i for i in range(len(headers)) if any(isinstance(row[i], str) for row in rows)]
    return tabulate(
        [list(row) for row in rows], headers=list(headers), tablefmt="pipe", floatfmt=floatfmt,
        missingval="", disable_numparse=text_columns,
    )
