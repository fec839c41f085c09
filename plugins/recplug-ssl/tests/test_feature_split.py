"""Random and Correlated Feature Masking: complementary halves, MI-driven groups, bad input."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from recplug.errors import ConfigError
from recplug_ssl.feature_split import CorrelatedFeatureMasking, RandomFeatureMasking
from recplug_ssl.mutual_information import MutualInformation

FEATURES = ("a", "b", "c", "d", "e")


def mi_matrix() -> MutualInformation:
    # a~b strongly, c~d strongly, e weakly with everything
    m = np.array(
        [
            [2.0, 1.5, 0.1, 0.2, 0.05],
            [1.5, 2.0, 0.3, 0.1, 0.05],
            [0.1, 0.3, 2.0, 1.2, 0.05],
            [0.2, 0.1, 1.2, 2.0, 0.05],
            [0.05, 0.05, 0.05, 0.05, 2.0],
        ]
    )
    return MutualInformation(FEATURES, m)


def test_random_masking_splits_into_complementary_halves() -> None:
    rfm = RandomFeatureMasking(FEATURES)
    g = torch.Generator().manual_seed(0)
    seen = Counter()
    for _ in range(300):
        a, b = rfm.split(g)
        assert not a & b and a | b == set(FEATURES)
        assert len(a) == 2 and len(b) == 3
        seen[a] += 1
    assert len(seen) == 10  # all C(5, 2) halves occur


def test_correlated_masking_masks_seed_with_its_most_correlated_features() -> None:
    cfm = CorrelatedFeatureMasking(FEATURES, mi_matrix())
    assert cfm.num_masked == 2
    assert cfm.group_of("a") == {"a", "b"}
    assert cfm.group_of("b") == {"b", "a"}
    assert cfm.group_of("c") == {"c", "d"}
    assert cfm.group_of("d") == {"d", "c"}
    assert cfm.group_of("e") == {"e", "a"}  # ties broken by feature order
    g = torch.Generator().manual_seed(0)
    seeds = Counter()
    for _ in range(1000):
        a, b = cfm.split(g)
        assert not a & b and a | b == set(FEATURES)
        seeds[a] += 1
    # seed drawn uniformly: {a,b} comes from seed a or b (2/5), {c,d} from c or d (2/5), {e,a} 1/5
    assert seeds[frozenset("ab")] == pytest.approx(400, abs=60)
    assert seeds[frozenset("cd")] == pytest.approx(400, abs=60)
    assert seeds[frozenset("ea")] == pytest.approx(200, abs=50)


def test_correlated_masking_with_more_masked_and_a_feature_subset() -> None:
    cfm = CorrelatedFeatureMasking(("d", "c", "a"), mi_matrix(), num_masked=2)
    assert cfm.group_of("d") == {"d", "c"}
    assert cfm.mutual_info.features == ("d", "c", "a")
    with pytest.raises(ConfigError, match="num_masked"):
        CorrelatedFeatureMasking(FEATURES, mi_matrix(), num_masked=5)


@pytest.mark.parametrize("features", [(), ("a",)])
def test_too_few_features_to_split_is_a_config_error(features) -> None:
    with pytest.raises(ConfigError, match="k >= 2"):
        RandomFeatureMasking(features)
    with pytest.raises(ConfigError, match="k >= 2"):
        CorrelatedFeatureMasking(features, mi_matrix())


def test_two_features_split_one_and_one_and_unknown_mi_feature_errors() -> None:
    a, b = RandomFeatureMasking(("a", "b")).split()
    assert len(a) == len(b) == 1
    with pytest.raises(ConfigError, match="no mutual information"):
        CorrelatedFeatureMasking(("a", "zz"), mi_matrix())
    with pytest.raises(ConfigError, match="duplicates"):
        RandomFeatureMasking(("a", "a"))
