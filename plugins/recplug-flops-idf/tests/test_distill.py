"""Teacher score normalisation, ensembling and the distillation losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recplug.errors import InvalidInputError
from recplug_flops_idf.distill import contrastive_loss, ensemble_scores, kl_distillation, minmax_per_query


def test_minmax_maps_each_query_to_unit_range():
    s = np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])
    np.testing.assert_allclose(minmax_per_query(s), [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]])


def test_nan_in_teacher_scores_names_the_teacher_and_row():
    s = np.array([[1.0, 2.0], [np.nan, 1.0]])
    with pytest.raises(InvalidInputError, match=r"bm25.*row 1"):
        ensemble_scores({"dense": np.ones((2, 2)), "bm25": s})


def test_ensemble_is_the_scaled_mean_of_normalised_teachers():
    dense = np.array([[0.9, 0.1, 0.5]])
    bm25 = np.array([[10.0, 30.0, 20.0]])
    np.testing.assert_allclose(ensemble_scores({"d": dense, "b": bm25}, scale=30.0), [[15.0, 15.0, 15.0 * (0.5 + 0.5)]])
    with pytest.raises(InvalidInputError, match="shapes differ"):
        ensemble_scores({"d": dense, "b": np.ones((2, 3))})


def test_kl_is_zero_for_matching_scores_and_positive_otherwise():
    t = torch.tensor([[3.0, 1.0, 0.0]])
    assert float(kl_distillation(t, t)) == pytest.approx(0.0, abs=1e-7)
    assert float(kl_distillation(torch.tensor([[0.0, 1.0, 3.0]]), t)) > 0.5


def test_contrastive_prefers_the_positive_column():
    good = contrastive_loss(torch.tensor([[5.0, 0.0, 0.0]]), torch.tensor([0]))
    bad = contrastive_loss(torch.tensor([[0.0, 5.0, 0.0]]), torch.tensor([0]))
    assert float(good) < 0.05 < float(bad)
