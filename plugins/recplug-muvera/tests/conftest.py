"""Fixtures of recplug-muvera's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from recplug_muvera import testing


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    folder = testing.golden_dir()
    assert (folder / "cases.json").exists(), f"golden data missing at {folder}"
    return folder
