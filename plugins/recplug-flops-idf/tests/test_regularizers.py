"""FLOPS and IDF-aware FLOPS: conformance kit, the penalty's value, the warm-up, the matching weights."""

from __future__ import annotations

import pytest
import torch
from recplug.errors import InvalidInputError
from recplug.testing import RegularizerConformance
from recplug_flops_idf.regularizers import FlopsRegularizer, IdfAwareFlopsRegularizer


@pytest.fixture
def regularizer_inputs():
    w = torch.rand(6, 40, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    return {}, {"doc_term_weights": w}


class TestFlops(RegularizerConformance):
    @pytest.fixture
    def regularizer(self):
        return FlopsRegularizer(weight=0.5, warmup_steps=10)


class TestIdfAwareFlops(RegularizerConformance):
    @pytest.fixture
    def regularizer(self):
        return IdfAwareFlopsRegularizer(weight=0.5, warmup_steps=10)


@pytest.mark.parametrize("cls", [FlopsRegularizer, IdfAwareFlopsRegularizer])
def test_penalty_is_sum_of_squared_batch_means(cls):
    w = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    # means over the batch: 2, 0, 1 -> 4 + 0 + 1
    assert float(cls()({}, {"doc_term_weights": w})["flops"]) == pytest.approx(5.0)


def test_quadratic_warmup_reaches_lambda_at_T():
    reg = FlopsRegularizer(weight=2.0, warmup_steps=4)
    assert [reg.schedule(s) for s in (0, 1, 3, 10)] == pytest.approx([2.0 / 16, 2.0 * 4 / 16, 2.0, 2.0])


def test_matching_weights_differ_only_for_the_idf_aware_variant():
    idf = torch.tensor([0.5, 3.0, -1.0])
    assert FlopsRegularizer().term_weights(idf).tolist() == [1.0, 1.0, 1.0]
    assert IdfAwareFlopsRegularizer().term_weights(idf).tolist() == [0.5, 3.0, 0.0]
    with pytest.raises(InvalidInputError):
        IdfAwareFlopsRegularizer().term_weights(torch.tensor([float("nan")]))


def test_idf_scales_the_ranking_gradient_but_not_the_penalty_gradient():
    """The mechanism of IDF-aware FLOPS: d(score)/d(w_j) = idf_j, d(penalty)/d(w_j) does not see idf."""
    idf = torch.tensor([0.2, 1.0, 5.0])
    d = torch.full((2, 3), 0.5, requires_grad=True)
    q = torch.ones(1, 3)
    for reg, expected in ((FlopsRegularizer(), [1.0, 1.0, 1.0]), (IdfAwareFlopsRegularizer(), [0.2, 1.0, 5.0])):
        score = (q * reg.term_weights(idf) @ d[0]).sum()
        (grad,) = torch.autograd.grad(score, d)
        assert grad[0].tolist() == pytest.approx(expected)
        (pgrad,) = torch.autograd.grad(reg({}, {"doc_term_weights": d})["flops"], d)
        assert torch.allclose(pgrad, pgrad[0, 0].expand_as(pgrad))


def test_bad_outputs_are_named():
    with pytest.raises(InvalidInputError, match="doc_term_weights"):
        FlopsRegularizer()({}, {"doc_term_weights": torch.zeros(3)})
