"""Training the sparse head on tiny synthetic data: losses fall, FLOPS sparsifies, bad examples are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recplug.errors import IncompatibleFileError, InvalidInputError
from recplug_flops_idf.backbone import HiddenStates
from recplug_flops_idf.doc_encoder import SparseHead, load_head
from recplug_flops_idf.regularizers import FlopsRegularizer, IdfAwareFlopsRegularizer
from recplug_flops_idf.train import TrainConfig, TrainingExample, train_head

V, H, N, L, C = 60, 8, 24, 6, 3


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    embeddings = torch.from_numpy(rng.standard_normal((V, H)).astype(np.float32))
    lengths = rng.integers(3, L + 1, N)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    states = HiddenStates(rng.standard_normal((int(offsets[-1]), H)).astype(np.float16), offsets,
                          np.zeros((N, H), np.float32), rng.integers(0, V, int(offsets[-1])).astype(np.int32))
    examples = []
    for _ in range(12):
        rows = rng.choice(N, C, replace=False)
        examples.append(TrainingExample(rng.choice(np.arange(2, V), 4, replace=False), rows,
                                        np.array([30.0, 10.0, 0.0])))
    idf = rng.uniform(0.5, 6.0, V).astype(np.float32)
    return embeddings, states, examples, idf


def run(toy, reg, steps=30):
    embeddings, states, examples, idf = toy
    torch.manual_seed(0)
    head = SparseHead(embeddings, np.arange(2, V), init_bias=0.0)
    history = train_head(head, states, examples, reg, idf,
                         TrainConfig(steps=steps, queries_per_batch=4, lr=5e-2, bias_lr=0.3, log_every=5))
    return head, history


def test_ranking_loss_falls_without_penalty(toy):
    _, history = run(toy, FlopsRegularizer(weight=0.0 + 1e-12, warmup_steps=1))
    assert history[-1]["kl"] + history[-1]["contrastive"] < history[0]["kl"] + history[0]["contrastive"]


@pytest.mark.parametrize("cls", [FlopsRegularizer, IdfAwareFlopsRegularizer])
def test_flops_penalty_sparsifies_documents(toy, cls):
    _, weak = run(toy, cls(weight=1e-9, warmup_steps=1))
    _, strong = run(toy, cls(weight=100.0, warmup_steps=2))
    assert strong[-1]["doc_nnz"] < 0.5 * weak[-1]["doc_nnz"]


def test_head_round_trips_through_a_file(toy, tmp_path):
    head, _ = run(toy, FlopsRegularizer(weight=0.1, warmup_steps=5), steps=3)
    head.save(tmp_path / "head.pt")
    loaded = load_head(tmp_path / "head.pt", toy[0])
    values, offsets, _ = toy[1].gather(np.array([0, 1]))
    h = torch.from_numpy(values)
    assert torch.equal(loaded(h, offsets), head(h, offsets))
    assert loaded.to_csr(loaded(h, offsets)).shape == (2, V)
    with pytest.raises(IncompatibleFileError, match="shape"):
        SparseHead(toy[0][:, :4], np.arange(2, V)).load(tmp_path / "head.pt")


def test_embedding_skip_adds_the_scaled_input_embeddings(toy):
    embeddings, states, _, _ = toy
    values, offsets, token_ids = states.gather(np.array([1, 4, 2]))
    h = torch.from_numpy(values)
    skip = SparseHead(embeddings, np.arange(2, V), init_bias=0.0, skip_scale=2.0)
    plain = SparseHead(embeddings, np.arange(2, V), init_bias=0.0)
    shifted = h.float() + 2.0 * embeddings[torch.from_numpy(token_ids).long()]
    torch.testing.assert_close(skip(h, offsets, token_ids), plain(shifted, offsets))
    with pytest.raises(InvalidInputError, match="token ids"):
        skip(h, offsets)


def test_transform_starts_at_identity_trains_and_round_trips(toy, tmp_path):
    embeddings, states, examples, idf = toy
    values, offsets, token_ids = states.gather(np.array([0, 3]))
    h = torch.from_numpy(values)
    plain = SparseHead(embeddings, np.arange(2, V), init_bias=0.0, skip_scale=1.0)
    head = SparseHead(embeddings, np.arange(2, V), init_bias=0.0, skip_scale=1.0, transform=True)
    torch.testing.assert_close(head(h, offsets, token_ids), plain(h, offsets, token_ids))
    train_head(head, states, examples, FlopsRegularizer(weight=0.01, warmup_steps=1), idf,
               TrainConfig(steps=5, queries_per_batch=4, lr=1e-9, bias_lr=1e-9, transform_lr=0.05))
    assert not torch.allclose(head.transform.weight, torch.eye(H))  # the transform learned
    head.save(tmp_path / "head.pt")
    loaded = load_head(tmp_path / "head.pt", embeddings)
    assert loaded.transform is not None
    assert torch.equal(loaded(h, offsets, token_ids), head(h, offsets, token_ids))


@pytest.mark.parametrize("chunk_tokens", [1, 7, 4096])
def test_head_equals_a_padded_max_pool_in_value_and_gradient(toy, chunk_tokens):
    """The arg-max recomputation gives the weights and gradients of the plain ``B x L x V'`` max pool."""
    embeddings, states, _, _ = toy
    rows = np.array([3, 0, 5, 9])
    values, offsets, _ = states.gather(rows)
    h = torch.from_numpy(values.astype(np.float32))
    head = SparseHead(embeddings, np.arange(2, V), init_bias=0.0, chunk_tokens=chunk_tokens)
    reference = SparseHead(embeddings, np.arange(2, V), init_bias=0.0)
    longest = int(np.diff(offsets).max())
    padded = torch.full((len(rows), longest, V - 2), float("-inf"))
    for i in range(len(rows)):
        padded[i, : offsets[i + 1] - offsets[i]] = h[offsets[i] : offsets[i + 1]] @ reference.weight.T + reference.bias
    expected = torch.log1p(torch.relu(padded.max(dim=1).values))
    got = head(h, offsets)
    torch.testing.assert_close(got, expected)
    probe = torch.randn_like(expected)
    (got * probe).sum().backward()
    (expected * probe).sum().backward()
    torch.testing.assert_close(head.weight.grad, reference.weight.grad)
    torch.testing.assert_close(head.bias.grad, reference.bias.grad)


def test_head_rejects_bad_offsets(toy):
    head = SparseHead(toy[0], np.arange(2, V))
    with pytest.raises(InvalidInputError, match="offsets"):
        head(torch.zeros(5, H), np.array([0, 3, 3, 5]))


def test_bad_examples_are_named(toy):
    embeddings, states, examples, idf = toy
    head = SparseHead(embeddings, np.arange(2, V))
    bad = [TrainingExample(examples[0].query_terms, examples[0].doc_rows, np.array([1.0, np.nan, 0.0]))]
    with pytest.raises(InvalidInputError, match="NaN"):
        train_head(head, states, bad, FlopsRegularizer(), idf, TrainConfig(steps=1))
    ragged = [examples[0], TrainingExample(examples[1].query_terms, examples[1].doc_rows[:2], np.ones(2))]
    with pytest.raises(InvalidInputError, match="same number"):
        train_head(head, states, ragged, FlopsRegularizer(), idf, TrainConfig(steps=1))
