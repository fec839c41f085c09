"""Typed configurations of the SSL and spread-out regularizers (flat keyword arguments of the factories)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from recplug.errors import ConfigError

from recplug_ssl.losses import check_temperature

MASKINGS = ("random", "correlated", "none")
SAMPLERS = ("corpus", "click_log")
SPREAD_OUT_FORMS = ("softmax", "gor")


@dataclass(frozen=True)
class ScheduleConfig:
    """The weight α of the term over training: see :func:`recplug.schedules.schedule_from_config`."""

    weight: float = 1.0
    warmup: str = "constant"
    warmup_steps: int = 0

    def build(self):  # -> recplug.protocols.WeightSchedule
        from recplug.schedules import schedule_from_config

        return schedule_from_config(self.weight, self.warmup, self.warmup_steps)


@dataclass(frozen=True)
class SSLConfig:
    """Self-supervised item-tower regularization (Yao et al. 2021).

    Attributes:
        masking: ``"correlated"`` (CFM), ``"random"`` (RFM) or ``"none"`` (both views see every feature).
        features: the item features split between the views (default: every item feature of the model).
        num_masked: features masked in view a (default ⌊k/2⌋; view b masks the other k − num_masked).
        defaults: per feature, ``"empty"`` (zero default embedding, the default) or a missing-value row id.
        value_dropout: second-stage dropout rate of single values inside multi-valued features.
        dropout_features: the features value dropout applies to (default: those with a bag longer than 1).
        temperature: τ of the InfoNCE loss (> 0).
        batch_size: items per SSL batch (>= 2).
        sampler: ``"corpus"`` (uniform over items, the paper's choice) or ``"click_log"`` (ablation).
        mutual_info_path: a saved :class:`recplug_ssl.mutual_information.MutualInformation` for CFM
            (default: computed from the training data the factory is given).
        schedule: the weight α.
    """

    masking: Literal["random", "correlated", "none"] = "correlated"
    features: tuple[str, ...] | None = None
    num_masked: int | None = None
    defaults: Mapping[str, int | str] = field(default_factory=dict)
    value_dropout: float = 0.1
    dropout_features: tuple[str, ...] | None = None
    temperature: float = 0.1
    batch_size: int = 256
    sampler: Literal["corpus", "click_log"] = "corpus"
    mutual_info_path: str | None = None
    schedule: ScheduleConfig = ScheduleConfig()

    def __post_init__(self) -> None:
        if self.masking not in MASKINGS:
            raise ConfigError(f"SSL masking must be one of {MASKINGS}, got {self.masking!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"SSL sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        check_temperature(self.temperature)
        if not 0.0 <= self.value_dropout < 1.0:
            raise ConfigError(f"value_dropout must be in [0, 1), got {self.value_dropout}")
        if not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise ConfigError(f"SSL batch_size must be an integer >= 2, got {self.batch_size!r}")
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))
            if self.masking != "none" and len(self.features) < 2:
                raise ConfigError(
                    f"feature masking needs k >= 2 item features to split, got k={len(self.features)}: {list(self.features)}"
                )
        if self.dropout_features is not None:
            object.__setattr__(self, "dropout_features", tuple(self.dropout_features))


@dataclass(frozen=True)
class SpreadOutConfig:
    """Spread-out regularization of the item embeddings of a batch (Zhang et al. 2017).

    Attributes:
        form: ``"softmax"``: ``1/B Σ_i log Σ_j exp(cos(e_i, e_j)/τ) − 1/τ``, the item itself as positive and
            the other items as negatives (how Yao et al. apply it; SSL without masking equals it);
            ``"gor"``: Zhang et al.'s global orthogonal regularization ``M1² + max(0, M2 − 1/D)``.
        temperature: τ of the softmax form (> 0).
        key: the model output holding the item embeddings (B x D).
        schedule: the weight.
    """

    form: Literal["softmax", "gor"] = "softmax"
    temperature: float = 0.1
    key: str = "item_embeddings"
    schedule: ScheduleConfig = ScheduleConfig()

    def __post_init__(self) -> None:
        if self.form not in SPREAD_OUT_FORMS:
            raise ConfigError(f"spread-out form must be one of {SPREAD_OUT_FORMS}, got {self.form!r}")
        check_temperature(self.temperature)
        if not self.key:
            raise ConfigError("spread-out key is empty")
