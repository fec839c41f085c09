"""The base of the conformance kits: a plugin's test class may add tests and override fixtures, but not
quietly replace a kit test (which would let a component skip the contract). As in langchain's standard
tests, a kit test that truly does not apply is overridden with ``@pytest.mark.xfail(reason=...)``, so the
report shows it."""

from __future__ import annotations

from typing import Any

import pytest


def _is_xfail(function: Any) -> bool:
    return any(mark.name == "xfail" for mark in getattr(function, "pytestmark", []))


class ConformanceKit:
    """Base class of :class:`IndexConformance`, :class:`EncoderConformance`, :class:`RegularizerConformance` and
    :class:`CompressorConformance`."""

    def test_no_kit_test_is_overridden(self) -> None:
        kits = [k for k in type(self).__mro__ if ConformanceKit in k.__bases__ or k is ConformanceKit]
        kit_tests = {name for kit in kits for name in vars(kit) if name.startswith("test_")}
        replaced = []
        for klass in type(self).__mro__:
            if klass in kits or klass is object:
                continue
            for name in kit_tests & set(vars(klass)):
                if not _is_xfail(vars(klass)[name]):
                    replaced.append(f"{klass.__name__}.{name}")
        if replaced:
            pytest.fail(
                f"kit tests overridden without @pytest.mark.xfail(reason=...): {', '.join(sorted(replaced))}; "
                "override fixtures instead, or mark the override xfail with the reason"
            )
