"""The built-in regularizer passes the regularizer kit; schedules behave as documented."""

from __future__ import annotations

import pytest
from recplug.builtins.norm_regularizer import EmbeddingNormPenalty
from recplug.errors import ConfigError
from recplug.schedules import ConstantWeight, LinearWarmup, QuadraticWarmup, schedule_from_config
from recplug.testing import RegularizerConformance


class TestEmbeddingNormPenalty(RegularizerConformance):
    @pytest.fixture
    def regularizer(self):
        return EmbeddingNormPenalty(keys=("item_embeddings",), weight=0.1)

    @pytest.fixture
    def regularizer_inputs(self):
        import torch

        return {}, {"item_embeddings": torch.randn(6, 4, requires_grad=True)}


def test_norm_penalty_value():
    import torch

    reg = EmbeddingNormPenalty(keys=("q",))
    parts = reg({}, {"q": torch.tensor([[3.0, 4.0], [0.0, 1.0]])})
    assert parts["q"].item() == pytest.approx((25 + 1) / 2)


def test_schedules():
    assert ConstantWeight(0.5)(1000) == 0.5
    quad = QuadraticWarmup(2.0, 10)
    assert quad(0) == pytest.approx(2.0 * 0.01) and quad(4) == pytest.approx(2.0 * 0.25) and quad(50) == 2.0
    assert LinearWarmup(1.0, 4)(1) == pytest.approx(0.5)
    assert isinstance(schedule_from_config(1.0, "quadratic", 5), QuadraticWarmup)
    with pytest.raises(ConfigError):
        schedule_from_config(1.0, "cubic")
    with pytest.raises(ConfigError):
        ConstantWeight(-1.0)
    with pytest.raises(ConfigError):
        QuadraticWarmup(1.0, 0)
