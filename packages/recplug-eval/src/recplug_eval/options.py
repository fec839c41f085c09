"""Component configuration from the command line: ``key=value`` items and JSON/TOML files.

``--encoder-config batch_size=32 --encoder-config normalize=false`` gives
``{"batch_size": 32, "normalize": False}``: values are read as JSON when they parse (numbers, booleans,
``null``, lists, objects) and as strings otherwise. An item naming an existing ``.json`` or ``.toml``
file merges that file's table; later items win.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recplug.errors import ConfigError


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or TOML file holding one table (object)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from exc
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
