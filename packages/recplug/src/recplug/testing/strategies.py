"""Hypothesis strategies and helpers for property tests of components (needs ``hypothesis``).

The property every component must have: any input and any option value either gives a correct result or
raises a :class:`recplug.errors.RecplugError` subclass; never another exception, never a hang::

    from recplug.testing.strategies import ci_settings, garbage, outcome

    @ci_settings(max_examples=60)
    @given(value=garbage())
    def test_any_weight(value):
        result = outcome(lambda: MyRegularizer(weight=value))  # re-raises anything but a RecplugError
        if result.ok:
            assert result.value.schedule(10) >= 0

Importing this module imports hypothesis and numpy, never torch.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from recplug.errors import RecplugError

__all__ = [
    "Outcome",
    "ci_settings",
    "garbage",
    "huge_ints",
    "outcome",
    "time_limit",
]


def ci_settings(max_examples: int = 50, **overrides: Any) -> settings:
    """Deterministic, database-free settings for CI: the same examples on every run, no deadline (the first
    call of a test may import torch), at most ``max_examples`` examples."""
    options: dict[str, Any] = {
        "max_examples": max_examples,
        "deadline": None,
        "derandomize": True,
        "database": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        "print_blob": False,
    }
    options.update(overrides)
    return settings(**options)


def huge_ints() -> st.SearchStrategy[int]:
    """Sizes far beyond any machine: 2**31 .. 10**15 and a few famous edges."""
    return st.one_of(st.sampled_from([2**31, 2**32, 2**40, 10**12, 10**15]), st.integers(2**31, 10**15))


def garbage() -> st.SearchStrategy[Any]:
    """Arbitrary option values: None, bools, negative / zero / huge ints, NaN / inf / tiny floats, strings
    (numeric-looking too), lists, dicts, bytes and plain objects."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**15), 10**15),
        huge_ints(),
        st.sampled_from([0, -1, 1, 2, 3]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, 1e300, 0.5, 1.5]),
        st.text(max_size=6),
        st.sampled_from(["", "1", "0.5", "-1", "nan", "none", "cpu", "cuda", "meta", "auto"]),
        st.lists(st.integers(-3, 3), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.binary(max_size=3),
        st.builds(object),
    )


@dataclass
class Outcome:
    """What a call did: ``value`` when it returned (``ok``), ``error`` when it raised a RecplugError."""

    value: Any = None
    error: RecplugError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class HangError(AssertionError):
    """A call ran past its time limit (a hang, or an attempt at a huge size that should have been refused)."""


@contextmanager
def time_limit(seconds: float):
    """Fail with :class:`HangError` when the block runs longer than ``seconds`` (main thread, POSIX; a no-op
    elsewhere). The alarm interrupts Python code; a long C call is interrupted when it returns."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise HangError(f"no answer within {seconds} s (a hang, or a huge size that was attempted, not refused)")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(call: Callable[[], Any], seconds: float = 20.0) -> Outcome:
    """Run ``call`` under :func:`time_limit`; a :class:`RecplugError` becomes ``Outcome(error=...)``, any
    other exception propagates (the property is broken). A RecplugError must carry a message."""
    with time_limit(seconds):
        try:
            return Outcome(value=call())
        except RecplugError as exc:
            message = str(exc)
            assert message and message.strip(), f"{type(exc).__name__} without a message"
            return Outcome(error=exc)
