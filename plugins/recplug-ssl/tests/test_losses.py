"""InfoNCE, the spread-out forms, and the reduction of SSL without masking to spread-out."""

from __future__ import annotations

import math

import pytest
import torch
from recplug.errors import ConfigError, InvalidInputError
from recplug_ssl.losses import (
    global_orthogonal_regularization,
    info_nce,
    off_diagonal_moments,
    softmax_spread_out,
)


def test_info_nce_matches_the_formula() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    tau = 0.2
    expected = 0.0
    for i in range(5):
        sims = [torch.nn.functional.cosine_similarity(a[i], b[j], dim=0) / tau for j in range(5)]
        expected += -(sims[i] - torch.logsumexp(torch.stack(sims), 0))
    assert float(info_nce(a, b, tau)) == pytest.approx(float(expected) / 5, rel=1e-5)


def test_info_nce_is_scale_invariant_and_low_for_aligned_views() -> None:
    torch.manual_seed(0)
    a = torch.randn(16, 8)
    aligned = info_nce(a, 3.0 * a, 0.1)
    shuffled = info_nce(a, a[torch.randperm(16)], 0.1)
    assert float(aligned) < float(shuffled)
    assert float(info_nce(a, a, 0.1)) == pytest.approx(float(aligned), rel=1e-5)


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf")])
def test_non_positive_temperature_is_a_config_error(tau: float) -> None:
    with pytest.raises(ConfigError, match="temperature"):
        info_nce(torch.randn(4, 2), torch.randn(4, 2), tau)
    with pytest.raises(ConfigError, match="temperature"):
        softmax_spread_out(torch.randn(4, 2), tau)


def test_shape_errors() -> None:
    with pytest.raises(InvalidInputError, match="same shape"):
        info_nce(torch.randn(4, 2), torch.randn(4, 3), 0.1)
    with pytest.raises(InvalidInputError, match="at least 2"):
        info_nce(torch.randn(1, 2), torch.randn(1, 2), 0.1)


def test_info_nce_of_identical_views_equals_softmax_spread_out_value_and_gradient() -> None:
    """Masking off + one tower: both views are the same embeddings e, and InfoNCE(e, e) is exactly the
    softmax spread-out term (the positive logit is the constant cos(e_i, e_i)/τ = 1/τ)."""
    torch.manual_seed(0)
    e1 = torch.randn(32, 8, requires_grad=True)
    e2 = e1.detach().clone().requires_grad_(True)
    ssl, so = info_nce(e1, e1, 0.07), softmax_spread_out(e2, 0.07)
    assert float(ssl.detach()) == pytest.approx(float(so.detach()), rel=1e-5, abs=1e-5)
    ssl.backward()
    so.backward()
    torch.testing.assert_close(e1.grad, e2.grad, rtol=1e-4, atol=1e-6)


def test_softmax_spread_out_first_order_is_zhangs_first_moment() -> None:
    """For large τ, τ·(L + 1/τ − log B) → mean over all pairs of cos(e_i, e_j) = 1/B + (B−1)/B · M1, where
    M1 is the first moment of Zhang et al.'s GOR (over non-matching pairs)."""
    torch.manual_seed(0)
    e = torch.randn(20, 6, dtype=torch.float64)
    b = e.shape[0]
    m1, _ = off_diagonal_moments(e)
    target = 1 / b + (b - 1) / b * float(m1)
    errors = []
    for tau in (10.0, 100.0, 1000.0):
        value = float(softmax_spread_out(e, tau))
        errors.append(abs(tau * (value + 1 / tau - math.log(b)) - target))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3


def test_gor_is_zero_for_orthonormal_and_positive_for_collapsed() -> None:
    eye = torch.eye(4)
    assert float(global_orthogonal_regularization(eye)) == pytest.approx(0.0, abs=1e-7)
    collapsed = torch.ones(4, 4) + 0.01 * torch.randn(4, 4)
    assert float(global_orthogonal_regularization(collapsed)) > 0.5
