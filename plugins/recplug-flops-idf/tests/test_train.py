"""Training the sparse head on tiny synthetic data: losses fall, FLOPS sparsifies, bad examples are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recplug.errors import InvalidInputError
from recplug_flops_idf.doc_encoder import SparseHead, load_head
from recplug_flops_idf.regularizers import FlopsRegularizer, IdfAwareFlopsRegularizer
from recplug_flops_idf.train import TrainConfig, TrainingExample, train_head

V, H, N, L, C = 60, 8, 24, 6, 3


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    embeddings = torch.from_numpy(rng.standard_normal((V, H)).astype(np.float32))
    hidden = rng.standard_normal((N, L, H)).astype(np.float16)
    lengths = rng.integers(3, L + 1, N).astype(np.int32)
    examples = []
    for _ in range(12):
        rows = rng.choice(N, C, replace=False)
        examples.append(TrainingExample(rng.choice(np.arange(2, V), 4, replace=False), rows,
                                        np.array([30.0, 10.0, 0.0])))
    idf = rng.uniform(0.5, 6.0, V).astype(np.float32)
    return embeddings, hidden, lengths, examples, idf


def run(toy, reg, steps=30):
    embeddings, hidden, lengths, examples, idf = toy
    torch.manual_seed(0)
    head = SparseHead(embeddings, np.arange(2, V), init_bias=0.0)
    history = train_head(head, hidden, lengths, examples, reg, idf,
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
    h = torch.from_numpy(toy[1][:2].astype(np.float32))
    mask = torch.ones(2, L, dtype=torch.long)
    assert torch.equal(loaded(h, mask), head(h, mask))
    assert loaded.to_csr(loaded(h, mask)).shape == (2, V)


def test_bad_examples_are_named(toy):
    embeddings, hidden, lengths, examples, idf = toy
    head = SparseHead(embeddings, np.arange(2, V))
    bad = [TrainingExample(examples[0].query_terms, examples[0].doc_rows, np.array([1.0, np.nan, 0.0]))]
    with pytest.raises(InvalidInputError, match="NaN"):
        train_head(head, hidden, lengths, bad, FlopsRegularizer(), idf, TrainConfig(steps=1))
    ragged = [examples[0], TrainingExample(examples[1].query_terms, examples[1].doc_rows[:2], np.ones(2))]
    with pytest.raises(InvalidInputError, match="same number"):
        train_head(head, hidden, lengths, ragged, FlopsRegularizer(), idf, TrainConfig(steps=1))
