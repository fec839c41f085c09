"""Conformance kit for regularizers (:class:`recplug.protocols.Regularizer`)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from recplug.testing.kit_guard import ConformanceKit


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class RegularizerConformance(ConformanceKit):
    """Checks a regularizer's outputs, gradients, schedule and input checks.

    Fixtures to provide:
        regularizer: the built component.
        regularizer_inputs: ``(batch, outputs)`` as the trainer would pass them; tensors in ``outputs``
            that the loss depends on must have ``requires_grad=True``.

    Fixtures with defaults:
        gradient_tensors: tensors that must receive a gradient (default: every tensor in ``outputs``
            with ``requires_grad``, plus the regularizer's own parameters if it is a ``torch.nn.Module``).
    """

    @pytest.fixture
    def gradient_tensors(
        self, regularizer: Any, regularizer_inputs: tuple[Mapping[str, Any], Mapping[str, Any]]
    ) -> list[Any]:
        import torch

        _, outputs = regularizer_inputs
        tensors = [v for v in outputs.values() if isinstance(v, torch.Tensor) and v.requires_grad]
        if isinstance(regularizer, torch.nn.Module):
            tensors += [p for p in regularizer.parameters() if p.requires_grad]
        return tensors

    def test_declares_protocol_attributes(self, regularizer: Any, regularizer_inputs: Any) -> None:
        assert isinstance(regularizer.name, str) and regularizer.name
        assert isinstance(regularizer.requires, frozenset)
        _, outputs = regularizer_inputs
        missing = regularizer.requires - set(outputs)
        assert not missing, f"regularizer_inputs lacks required outputs {missing}"

    def test_schedule_gives_finite_non_negative_weights(self, regularizer: Any) -> None:
        weights = [regularizer.schedule(step) for step in (0, 1, 10, 100, 10_000)]
        assert all(isinstance(w, float) and np.isfinite(w) and w >= 0 for w in weights), weights
        assert weights[-1] > 0, "the weight schedule never switches the term on"

    def test_returns_named_finite_scalars(self, regularizer: Any, regularizer_inputs: Any) -> None:
        import torch

        _seed(0)
        parts = regularizer(*regularizer_inputs)
        assert isinstance(parts, dict) and parts, "a regularizer returns a non-empty dict of named parts"
        for name, value in parts.items():
            assert isinstance(name, str) and name
            assert isinstance(value, torch.Tensor) and value.dim() == 0, f"part {name!r} must be a scalar tensor"
            assert torch.isfinite(value), f"part {name!r} is not finite"
        json.dumps({k: float(v.detach()) for k, v in parts.items()})  # loggable

    def test_gradients_flow(self, regularizer: Any, regularizer_inputs: Any, gradient_tensors: list[Any]) -> None:
        import torch

        assert gradient_tensors, "no tensor requires a gradient: nothing to regularize"
        _seed(0)
        total = torch.stack(list(regularizer(*regularizer_inputs).values())).sum()
        grads = torch.autograd.grad(total, gradient_tensors, allow_unused=True)
        assert any(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)

    def test_deterministic_under_a_seed(self, regularizer: Any, regularizer_inputs: Any) -> None:
        _seed(1)
        first = {k: float(v.detach()) for k, v in regularizer(*regularizer_inputs).items()}
        _seed(1)
        second = {k: float(v.detach()) for k, v in regularizer(*regularizer_inputs).items()}
        assert first == pytest.approx(second)

    def test_missing_required_output_is_an_error(self, regularizer: Any, regularizer_inputs: Any) -> None:
        from recplug.errors import RecplugError

        if not regularizer.requires:
            pytest.skip("regularizer requires no outputs")
        batch, outputs = regularizer_inputs
        key = sorted(regularizer.requires)[0]
        partial = {k: v for k, v in outputs.items() if k != key}
        with pytest.raises((KeyError, RecplugError)):
            regularizer(batch, partial)
