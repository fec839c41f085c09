"""(placeholder: being written)"""

from __future__ import annotations


def faiss_index_specs() -> list:
    return []
