"""Weight schedules for regularizers: small callables ``schedule(step) -> float``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from recplug.checks import check_int, check_real
from recplug.errors import ConfigError


def _check_weight(weight: float) -> None:
    check_real(weight, "regularizer weight", low=0)


@dataclass(frozen=True)
class ConstantWeight:
    """``weight`` at every step."""

    weight: float

    def __post_init__(self) -> None:
        _check_weight(self.weight)

    def __call__(self, step: int) -> float:
        return float(self.weight)


@dataclass(frozen=True)
class _PolynomialWarmup:
    """``weight * min(1, (step + 1) / warmup_steps) ** power``."""

    weight: float
    warmup_steps: int
    power: ClassVar[int] = 1

    def __post_init__(self) -> None:
        _check_weight(self.weight)
        check_int(self.warmup_steps, "warmup_steps", low=1)

    def __call__(self, step: int) -> float:
        return float(self.weight) * min(1.0, (step + 1) / self.warmup_steps) ** self.power


@dataclass(frozen=True)
class QuadraticWarmup(_PolynomialWarmup):
    """``weight * min(1, (step + 1) / warmup_steps) ** 2`` (the FLOPS warm-up of SPLADE)."""

    power: ClassVar[int] = 2


@dataclass(frozen=True)
class LinearWarmup(_PolynomialWarmup):
    """``weight * min(1, (step + 1) / warmup_steps)``."""

    power: ClassVar[int] = 1


def schedule_from_config(
    weight: float, warmup: str = "constant", warmup_steps: int = 0
) -> ConstantWeight | QuadraticWarmup | LinearWarmup:
    """Build a schedule from flat config values (``warmup``: ``constant``, ``linear`` or ``quadratic``;
    ``warmup_steps``, a non-negative integer, is unused by ``constant``)."""
    check_int(warmup_steps, "warmup_steps", low=0)
    if warmup == "constant":
        return ConstantWeight(weight)
    if warmup == "linear":
        return LinearWarmup(weight, warmup_steps)
    if warmup == "quadratic":
        return QuadraticWarmup(weight, warmup_steps)
    raise ConfigError(f"unknown warm-up {warmup!r}; choose constant, linear or quadratic")
