"""Markdown tables (``recplug_eval.markdown_table``, written by tabulate)."""

from __future__ import annotations

from recplug_eval import markdown_table


def test_numbers_are_right_aligned_and_formatted() -> None:
    lines = markdown_table(["name", "score"], [["bm25", 0.6861], ["dense", 0.64]]).splitlines()
    assert lines[1] == "|:-------|--------:|"
    assert lines[2:] == ["| bm25   |  0.6861 |", "| dense  |  0.6400 |"]


def test_strings_are_kept_as_the_caller_formatted_them() -> None:
    table = markdown_table(["system", "ms", "speed-up"], [["a", "12.50", "1.00x"], ["b", None, "0.5"]], floatfmt=".1f")
    assert "| 12.50 |" in table and "| 0.5        |" in table  # not re-read as numbers
    assert table.splitlines()[3] == "| b        |       | 0.5        |"  # None is an empty cell
