"""Errors raised by recplug and its plugins.

Every error names the thing that is wrong (a component, a plugin, a file and line, a dimension), so a
user can act on the message alone. All derive from :class:`RecplugError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class RecplugError(Exception):
    """Base class of every error recplug raises on purpose."""


class InvalidInputError(RecplugError, ValueError):
    """Input data is malformed: wrong dimension, NaN, empty or ragged sets, bad file lines."""


class ConfigError(RecplugError, ValueError):
    """A configuration value is out of range or inconsistent."""


class UnknownComponentError(RecplugError, LookupError):
    """A component name was asked for that no installed plugin provides."""

    def __init__(self, kind: str, name: str, available: Iterable[str]) -> None:
        self.kind, self.name = kind, name
        self.available = sorted(available)
        close = get_close_matches(name, self.available, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(self.available) if self.available else "none installed"
        super().__init__(f"unknown {kind} {name!r}.{hint} Available: {listing}.")


class DuplicateComponentError(RecplugError):
    """Two plugins register a component of the same family under the same name."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        self.kind, self.name, self.first, self.second = kind, name, first, second
        super().__init__(
            f"{kind} {name!r} is registered twice: by {first} and by {second}. "
            "Uninstall one of them or block one with RECPLUG_BLOCK_PLUGINS."
        )


class PluginLoadError(RecplugError, ImportError):
    """A plugin that the user asked for could not be loaded."""


class IncompatibleFileError(RecplugError):
    """A saved file exists but does not fit: other encoder config, dimension, format version, vocabulary."""


class CorruptFileError(RecplugError):
    """A saved file is truncated, fails its checksum, or cannot be parsed."""
