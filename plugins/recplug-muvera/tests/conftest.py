"""Fixtures of recplug-muvera's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from recplug_muvera.testing import GOLDEN


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    assert (GOLDEN / "cases.json").exists(), f"golden data missing at {GOLDEN}"
    return GOLDEN
