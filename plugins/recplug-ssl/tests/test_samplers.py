"""Heterogeneous sampling: uniform over the corpus versus from the click log."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recplug.errors import ConfigError, InvalidInputError
from recplug_ssl.samplers import ClickLogItemSampler, UniformItemSampler


def test_uniform_sampler_is_uniform_and_without_replacement() -> None:
    sampler = UniformItemSampler(10, 5)
    g = torch.Generator().manual_seed(0)
    counts = np.zeros(10)
    for _ in range(2000):
        ids = sampler(g)
        assert ids.dtype == torch.int64 and len(set(ids.tolist())) == 5
        counts += np.bincount(ids.numpy(), minlength=10)
    assert counts.min() > 900 and counts.max() < 1100  # 1000 expected each


def test_click_log_sampler_follows_popularity() -> None:
    log = [0] * 90 + [1] * 9 + [2]
    sampler = ClickLogItemSampler(log, 50)
    g = torch.Generator().manual_seed(0)
    ids = torch.cat([sampler(g) for _ in range(200)])
    share = np.bincount(ids.numpy(), minlength=3) / ids.numel()
    assert share[0] == pytest.approx(0.9, abs=0.02) and share[2] < 0.03


def test_sampler_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="at least 2 items"):
        UniformItemSampler(1, 4)
    with pytest.raises(ConfigError, match="batch_size"):
        UniformItemSampler(10, 1)
    with pytest.raises(InvalidInputError, match="empty"):
        ClickLogItemSampler([], 4)
