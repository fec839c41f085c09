"""Typed configurations of the SSL and spread-out regularizers (flat keyword arguments of the factories)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Literal

from recplug.checks import check_choice, check_int, check_optional_int, check_real, check_str
from recplug.errors import ConfigError

from recplug_ssl.losses import check_temperature


def check_names(value: Any, what: str) -> tuple[str, ...] | None:
    """``None``, or a list of non-empty feature names as a tuple; else a ConfigError."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (Sequence, Set)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{what} must be a list of feature names, got {value!r}")
    return tuple(value)


def check_defaults(defaults: Any) -> dict[str, int | str]:
    """Per feature, ``"empty"`` or a row id >= 0; else a ConfigError."""
    if defaults is None:
        return {}
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"SSL defaults must map feature names to 'empty' or a row id, got {defaults!r}")
    for key, value in defaults.items():
        ok = value == "empty" if isinstance(value, str) else isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if not isinstance(key, str) or not ok:
            raise ConfigError(f"SSL default of feature {key!r} must be 'empty' or a row id >= 0, got {value!r}")
    return dict(defaults)

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
        check_choice(self.masking, "SSL masking", MASKINGS)
        check_choice(self.sampler, "SSL sampler", SAMPLERS)
        check_temperature(self.temperature)
        check_real(self.value_dropout, "value_dropout", low=0.0, high=1.0, high_open=True)
        check_int(self.batch_size, "SSL batch_size (InfoNCE needs in-batch negatives)", low=2)
        check_optional_int(self.num_masked, "num_masked", low=1)
        object.__setattr__(self, "defaults", check_defaults(self.defaults))
        if self.mutual_info_path is not None and not isinstance(self.mutual_info_path, (str, PathLike)):
            raise ConfigError(f"mutual_info_path must be a path, got {self.mutual_info_path!r}")
        features = check_names(self.features, "SSL features")
        if features is not None:
            object.__setattr__(self, "features", features)
            if self.masking != "none" and len(features) < 2:
                raise ConfigError(
                    f"feature masking needs k >= 2 item features to split, got k={len(features)}: {list(features)}"
                )
        object.__setattr__(self, "dropout_features", check_names(self.dropout_features, "dropout_features"))


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
        check_choice(self.form, "spread-out form", SPREAD_OUT_FORMS)
        check_temperature(self.temperature)
        check_str(self.key, "spread-out key")
