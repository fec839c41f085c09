"""Checking a component's options against what its factory accepts, before the factory runs.

A misspelled option (``pth=`` for ``path=``) used to reach the factory and end in a bare ``TypeError``;
here it is a :class:`~recplug.errors.ConfigError` that lists the accepted options and suggests a close one.
The accepted names come from a record's ``options`` when it declares them, else from the factory's
signature; a factory that takes ``**kwargs`` and declares nothing is not checked (it forwards options to
something this module cannot see).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from difflib import get_close_matches
from typing import Any

from recplug.errors import ConfigError


def accepted_options(factory: Callable[..., Any]) -> frozenset[str] | None:
    """Keyword names ``factory`` accepts, or ``None`` when they cannot be known.

    In order: a ``recplug_options`` attribute (a collection, or a callable returning one) that a class or
    function declares; for a :class:`recplug.records.LazyFactory`, the options of its target less the
    ones it fixes; else the signature (``None`` when it takes ``**kwargs``).
    """
    declared = getattr(factory, "recplug_options", None)
    if declared is not None:
        return frozenset(declared() if callable(declared) else declared)
    resolve = getattr(factory, "resolve", None)
    if callable(resolve):
        inner = accepted_options(resolve())
        return None if inner is None else inner - frozenset(getattr(factory, "fixed", {}))
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature
        return None
    names = set()
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.add(parameter.name)
    return frozenset(names)


def unknown_option_message(owner: str, unknown: str, accepted: Iterable[str]) -> str:
    """``unknown option 'pth' for dataset 'beir'. Did you mean 'path'? Accepted: path, split.``"""
    accepted = sorted(accepted)
    close = get_close_matches(unknown, accepted, n=2)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listing = ", ".join(accepted) if accepted else "none"
    return f"unknown option {unknown!r} for {owner}.{hint} Accepted: {listing}."


def check_options(owner: str, given: Mapping[str, Any], accepted: Iterable[str] | None) -> None:
    """Raise :class:`ConfigError` for the first key of ``given`` not in ``accepted`` (``None``: no check).

    Args:
        owner: how the error names the component, e.g. ``"retrieval index 'exact'"``.
    """
    if accepted is None:
        return
    accepted = frozenset(accepted)
    for key in given:
        if key not in accepted:
            raise ConfigError(unknown_option_message(owner, str(key), accepted))
