"""Checks of single option values, shared by components: one-line :class:`ConfigError` s naming the option.

``bool`` is never taken for a number (``k=True`` is not ``k=1``), numeric strings are not converted, NaN and
infinity are refused unless asked for, and integer-valued floats are not integers.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from recplug.errors import ConfigError

__all__ = ["check_choice", "check_int", "check_optional_int", "check_real", "check_str"]


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return "finite"


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
) -> float:
    """``value`` as a float, when it is a real number (not a bool) in the range; else a ConfigError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        number = float(value)
        if math.isnan(number) or (finite and math.isinf(number)) or (low is not None and (number < low or (low_open and number == low))) or (high is not None and (number > high or (high_open and number == high))):
            ok = False
    if not ok:
        raise ConfigError(f"{name} must be a number {_range_text(low, high, low_open, high_open)}, got {value!r}")
    return number


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, when it is an integer (not a bool, not a float) in ``[low, high]``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and ((low is not None and value < low) or (high is not None and value > high)):
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be an integer {_range_text(low, high, False, False)}, got {value!r}")
    return int(value)


def check_optional_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int | None:
    """``None``, or :func:`check_int`."""
    return None if value is None else check_int(value, name, low=low, high=high)


def check_str(value: Any, name: str, *, empty: bool = False) -> str:
    """``value`` when it is a string (non-empty unless ``empty``)."""
    if not isinstance(value, str) or (not empty and not value):
        raise ConfigError(f"{name} must be a {'' if empty else 'non-empty '}string, got {value!r}")
    return value


def check_choice(value: Any, name: str, choices: tuple[Any, ...]) -> Any:
    """``value`` when it is one of ``choices`` (compared by type and value: ``True`` is not ``1``)."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ConfigError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value
