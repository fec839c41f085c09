"""How the item features are split between the two views: Random and Correlated Feature Masking.

A split policy returns ``(masked_a, masked_b)``: disjoint feature sets whose union is all ``k`` features,
so the views are complementary. Both policies mask ``n = ⌊k/2⌋`` features in view a (the paper: "n = k/2 so
that the masked and retained features have roughly the same size") and the other ``k − n`` in view b.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from recplug.errors import ConfigError

from recplug_ssl.mutual_information import MutualInformation

Split = tuple[frozenset[str], frozenset[str]]


def _check_splittable(features: Sequence[str]) -> tuple[str, ...]:
    features = tuple(features)
    if len(set(features)) != len(features):
        raise ConfigError(f"masking features contain duplicates: {list(features)}")
    if len(features) < 2:
        raise ConfigError(f"feature masking needs k >= 2 item features to split into two views, got k={len(features)}: {list(features)}")
    return features


@dataclass(frozen=True)
class NoMasking:
    """Both views see every feature (masking off): the ablation that reduces SSL to spread-out."""

    features: tuple[str, ...]

    def split(self, generator: torch.Generator | None = None) -> Split:
        return frozenset(), frozenset()


class RandomFeatureMasking:
    """RFM: a uniformly random half of the features (⌊k/2⌋ of them) masked in view a, the rest in view b."""

    def __init__(self, features: Sequence[str]) -> None:
        self.features = _check_splittable(features)

    def split(self, generator: torch.Generator | None = None) -> Split:
        order = torch.randperm(len(self.features), generator=generator).tolist()
        n = len(self.features) // 2
        a = frozenset(self.features[i] for i in order[:n])
        return a, frozenset(self.features) - a


class CorrelatedFeatureMasking:
    """CFM: per batch a seed feature drawn uniformly; the seed and its ``n − 1`` most correlated features
    (by pairwise mutual information, ties broken by feature order) are masked in view a, the complement in
    view b. ``n = ⌊k/2⌋`` unless ``num_masked`` is given (1 <= num_masked < k).
    """

    def __init__(self, features: Sequence[str], mutual_info: MutualInformation, num_masked: int | None = None) -> None:
        self.features = _check_splittable(features)
        self.mutual_info = mutual_info.subset(self.features)
        k = len(self.features)
        self.num_masked = k // 2 if num_masked is None else int(num_masked)
        if not 1 <= self.num_masked < k:
            raise ConfigError(f"num_masked must be in [1, {k - 1}] for k={k} features, got {num_masked}")
        # For each seed: the seed first, then the others by decreasing MI with it (stable for ties).
        mi = self.mutual_info.matrix
        self._groups: list[frozenset[str]] = []
        for s in range(k):
            others = [j for j in np.argsort(-mi[s], kind="stable") if j != s]
            chosen = [s, *others[: self.num_masked - 1]]
            self._groups.append(frozenset(self.features[j] for j in chosen))

    def group_of(self, seed: str) -> frozenset[str]:
        """The features masked together when ``seed`` is drawn."""
        return self._groups[self.features.index(seed)]

    def split(self, generator: torch.Generator | None = None) -> Split:
        seed = int(torch.randint(len(self.features), (1,), generator=generator))
        a = self._groups[seed]
        return a, frozenset(self.features) - a
