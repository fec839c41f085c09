"""The head's lexical channel: BM25's document-side weight, added to the learned weights, saved with the head."""

from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pytest
import torch
from recplug.errors import ConfigError, CorruptFileError, InvalidInputError
from recplug_flops_idf.doc_encoder import SparseHead, load_head
from recplug_flops_idf.lexical import LexicalChannel, average_length, tf_saturation
from recplug_flops_idf.regularizers import IdfAwareFlopsRegularizer
from recplug_flops_idf.train import TrainConfig, train_head

V, H = 40, 8


def bm25_weight(tf: float, length: int, avgdl: float, k1: float = 1.2, b: float = 0.75) -> float:
    return tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))


def test_tf_saturation_is_bm25_over_scored_positions():
    # text 0: columns 3, 3, 5 and one unscored position; text 1: column 5 four times
    columns = torch.tensor([3, -1, 3, 5, 5, 5, 5, 5])
    channel = LexicalChannel(weight=1.0, average_length=3.5)
    w = tf_saturation(columns, np.array([0, 4, 8]), 7, channel)
    assert w.shape == (2, 7)
    expected = np.zeros((2, 7), np.float32)
    expected[0, 3], expected[0, 5] = bm25_weight(2, 3, 3.5), bm25_weight(1, 3, 3.5)
    expected[1, 5] = bm25_weight(4, 4, 3.5)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    assert average_length(columns.numpy(), 2) == 3.5


@pytest.mark.parametrize("kwargs", [{"weight": -1.0}, {"k1": 0.0}, {"b": 1.5}, {"average_length": float("nan")}])
def test_bad_channel_parameters_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match="lexical channel"):
        LexicalChannel(**kwargs)


def test_unfitted_average_length_is_named():
    with pytest.raises(ConfigError, match="average document length"):
        tf_saturation(torch.tensor([1, 2]), np.array([0, 2]), 4, LexicalChannel(weight=1.0))


@pytest.fixture
def states():
    rng = np.random.default_rng(1)
    offsets = np.array([0, 5, 12, 15])
    values = torch.from_numpy(rng.standard_normal((15, H)).astype(np.float32))
    token_ids = rng.integers(0, V, 15)
    token_ids[[0, 5, 12]] = 0  # a special token (not scored) at the start of each text
    return values, offsets, token_ids


def head_with(weight: float, init_bias: float = 0.0) -> SparseHead:
    torch.manual_seed(0)
    embeddings = torch.randn(V, H)
    return SparseHead(embeddings, np.arange(1, V), init_bias=init_bias,
                      lexical=LexicalChannel(weight=weight, average_length=4.0))


def test_head_adds_the_weighted_channel_and_keeps_the_learned_gradient(states):
    values, offsets, token_ids = states
    head = head_with(0.5)
    learned = head(values, offsets, token_ids, lexical=False)
    both = head(values, offsets, token_ids)
    lexical = head.lexical_weights(offsets, token_ids)
    torch.testing.assert_close(both, learned + lexical)
    assert (lexical[:, :] >= 0).all() and lexical.sum() > 0
    # column of vocabulary id t is t - 1; a text's own (scored) tokens and nothing else get a lexical weight
    for i in range(3):
        own = {int(t) - 1 for t in token_ids[offsets[i] : offsets[i + 1]] if t != 0}
        assert set(torch.nonzero(lexical[i]).squeeze(1).tolist()) == own
    both.sum().backward()
    grad_both = head.weight.grad.clone()
    head.weight.grad = None
    learned = head(values, offsets, token_ids, lexical=False)
    learned.sum().backward()
    torch.testing.assert_close(grad_both, head.weight.grad)


def test_lexical_only_head_is_bm25(states):
    values, offsets, token_ids = states
    head = head_with(1.0, init_bias=-1e4)  # no learned weight survives the ReLU
    w = head(values, offsets, token_ids)
    text = token_ids[offsets[1] : offsets[2]]
    scored = text[text != 0]
    for t in np.unique(scored):
        tf = int((scored == t).sum())
        assert float(w[1, t - 1].detach()) == pytest.approx(bm25_weight(tf, len(scored), 4.0), rel=1e-6)
    with pytest.raises(InvalidInputError, match="token ids"):
        head(values, offsets)


def test_channel_round_trips_with_the_head_and_old_heads_load_without_it(tmp_path):
    head = head_with(0.7)
    head.set_average_length(6.25)
    head.save(tmp_path / "head.pt")
    loaded = load_head(tmp_path / "head.pt", torch.randn(V, H))
    assert astuple(loaded.lexical_channel) == pytest.approx(astuple(LexicalChannel(weight=0.7, average_length=6.25)))
    state = torch.load(tmp_path / "head.pt", weights_only=True)
    del state["lexical"]
    torch.save(state, tmp_path / "old.pt")
    assert not load_head(tmp_path / "old.pt", torch.randn(V, H)).lexical_channel.active
    state["lexical"] = torch.tensor([1.0, 1.2, 3.0, 4.0])  # b outside [0, 1]: a damaged file
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CorruptFileError, match=r"bad\.pt"):
        load_head(tmp_path / "bad.pt", torch.randn(V, H))


def test_training_with_the_channel_penalises_only_the_learned_weights(states):
    from recplug_flops_idf.backbone import HiddenStates
    from recplug_flops_idf.train import TrainingExample

    values, offsets, token_ids = states
    hidden = HiddenStates(values.numpy().astype(np.float16), offsets, np.zeros((3, H), np.float32),
                          token_ids.astype(np.int32))
    examples = [TrainingExample(np.array([int(token_ids[1]), int(token_ids[2])]), np.array([0, 1, 2]),
                                np.array([30.0, 10.0, 0.0]))] * 4
    head = head_with(1.0)
    idf = np.full(V, 2.0, np.float32)
    history = train_head(head, hidden, examples, IdfAwareFlopsRegularizer(weight=1e3, warmup_steps=1), idf,
                         TrainConfig(steps=20, queries_per_batch=2, lr=5e-2, bias_lr=0.3, log_every=19))
    # a strong penalty removes the learned weights; the lexical channel's postings remain
    learned = head(values, offsets, token_ids, lexical=False)
    assert (learned > 0).sum() < 0.2 * (head_with(1.0)(values, offsets, token_ids, lexical=False) > 0).sum()
    assert history[-1]["doc_nnz"] >= float((head.lexical_weights(offsets, token_ids) > 0).sum(1).float().mean()) > 0
