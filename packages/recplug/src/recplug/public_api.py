"""Lazy public APIs for packages whose names live in heavy modules (torch, faiss).

A package lists its public names once (``name -> "module:attribute"``); ``import package`` stays light and
``from package import Name`` imports ``module`` on first use::

    # recplug_eval/__init__.py
    __all__, __getattr__, __dir__ = lazy_exports(__name__, {"FaissIndex": "recplug_eval.indexes.faiss_index:FaissIndex"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for the module ``package`` exporting ``exports`` lazily."""

    def module_getattr(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = exports[name].partition(":")
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def module_dir() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return sorted(exports), module_getattr, module_dir
