"""Shared helpers of the recplug-dynamic-sparse tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)
