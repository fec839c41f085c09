"""(placeholder: being written)"""

from __future__ import annotations


def command_specs() -> list:
    return []
