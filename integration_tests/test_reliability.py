"""Issue 30 across every installed package: each component's options are known and checked before it is built."""

from __future__ import annotations

import pytest
from recplug import load_plugin_manager
from recplug.errors import ConfigError
from recplug.records import FAMILIES

MANAGER = load_plugin_manager()
COMPONENTS = [(family, name) for family in FAMILIES for name in MANAGER.components_of(family)]


def test_every_family_has_installed_components() -> None:
    assert {family for family, _ in COMPONENTS} == set(FAMILIES)


@pytest.mark.parametrize(("family", "name"), COMPONENTS, ids=[f"{f}:{n}" for f, n in COMPONENTS])
def test_every_component_declares_its_options(family: str, name: str) -> None:
    """A factory taking ``**kwargs`` must declare ``recplug_options``, or misspelled options reach it unchecked."""
    options = MANAGER.get(family, name).accepted_options()
    assert options is not None, f"{family} {name!r}: options cannot be checked"


@pytest.mark.parametrize(("family", "name"), COMPONENTS, ids=[f"{f}:{n}" for f, n in COMPONENTS])
def test_a_misspelled_option_names_the_accepted_ones(family: str, name: str) -> None:
    """Finding 3: unknown options to exact, faiss-flat, flops were a bare TypeError. Refused before the
    factory runs (so no model is loaded for this), with a close match suggested."""
    options = sorted(MANAGER.get(family, name).accepted_options() or ())
    assert options, f"{family} {name!r} declares no options"
    typo = options[0][:-1] + ("x" if options[0][-1] != "x" else "y")
    with pytest.raises(ConfigError, match=rf"unknown option '{typo}' for .*{name}.*Did you mean '{options[0]}'"):
        MANAGER.create(family, name, **{typo: 1})
