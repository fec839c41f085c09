"""Component configuration from the command line: ``key=value`` items and JSON/TOML files.

``--encoder-config batch_size=32 --encoder-config normalize=false`` gives
``{"batch_size": 32, "normalize": False}``: values are read as JSON when they parse (numbers, booleans,
``null``, lists, objects) and as strings otherwise. An item naming an existing ``.json`` or ``.toml``
file merges that file's table; later items win.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recplug.checks import check_int, check_optional_int
from recplug.errors import ConfigError


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or TOML file holding one table (object)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: config file is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        if path.suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'} ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/object at the top level")
    return data


def parse_value(text: str) -> Any:
    """JSON if it parses (``3``, ``true``, ``[1, 2]``), else the string itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text


def parse_config_items(items: Iterable[str] | None) -> dict[str, Any]:
    """Merge ``key=value`` items and config files (see the module docstring)."""
    config: dict[str, Any] = {}
    for item in items or ():
        if "=" in item:
            key, value = item.split("=", 1)
            key = key.strip()
            if not key.isidentifier():
                raise ConfigError(f"config item {item!r}: {key!r} is not a valid key")
            config[key] = parse_value(value)
        elif Path(item).suffix in (".json", ".toml"):
            config.update(read_config_file(item))
        else:
            raise ConfigError(f"config item {item!r}: expected key=value or a .json/.toml file")
    return config


def positive_int(text: str) -> int:
    """An argparse ``type=``: a whole number >= 1 (else a usage error naming the value)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def positive_ints(text: str) -> tuple[int, ...]:
    """An argparse ``type=``: comma-separated whole numbers >= 1 (``10,20,50``)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers >= 1, got {text!r}")
    return tuple(positive_int(part) for part in parts)


#: a path option: a string or an ``os.PathLike``
PATH = (str, os.PathLike)


def check_option(
    owner: str, name: str, value: Any, expected: type | tuple[type, ...], what: str, *, optional: bool = True
) -> Any:
    """``value`` if it is an ``expected`` instance (a bool is no number) or ``None`` (when ``optional``), else a
    :class:`ConfigError` naming the option: ``dataset 'beir': option 'path' must be a path (a string), got int 123``."""
    expected = expected if isinstance(expected, tuple) else (expected,)
    if (value is None and optional) or (isinstance(value, expected) and (bool in expected or not isinstance(value, bool))):
        return value
    raise ConfigError(f"{owner}: option {name!r} must be {what}, got {type(value).__name__} {value!r}")


def check_positive_int(where: str, value: Any, *, optional: bool = False) -> Any:
    """``value`` if it is an int >= 1 (or ``None`` when ``optional``), else a :class:`ConfigError` naming ``where``."""
    return check_optional_int(value, where, low=1) if optional else check_int(value, where, low=1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a whole number >= 1, got {value!r}")
    return value
