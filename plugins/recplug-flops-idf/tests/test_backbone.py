"""Whole-document backbone states: windows, packing and the dense embedding, on the real MiniLM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recplug.errors import ConfigError
from recplug_flops_idf.backbone import encode_hidden, load_backbone, split_windows


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


def test_windows_cover_every_token_once():
    ids = list(range(10, 23))  # 13 ids, 4 content tokens per window of 6
    windows = split_windows(ids, 6, 1, 2, None)
    assert [w[1:-1] for w in windows] == [ids[0:4], ids[4:8], ids[8:12], ids[12:13]]
    assert all(w[0] == 1 and w[-1] == 2 for w in windows)
    assert len(split_windows(ids, 6, 1, 2, 2)) == 2
    assert split_windows([], 6, 1, 2, None) == [[1, 2]]


def test_packed_states_equal_one_pass_per_window(backbone, vocab, scifact_docs):
    texts = [scifact_docs[0], "short text", scifact_docs[1]]
    window = 24
    states = encode_hidden(texts, vocab.tokenizer, backbone, window=window, batch_size=2)
    tok = vocab.tokenizer
    for row, text in enumerate(texts):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        windows = split_windows(ids, window, tok.cls_token_id, tok.sep_token_id, None)
        assert states.lengths[row] == len(ids) + 2 * len(windows)
        got = states.values[states.offsets[row] : states.offsets[row + 1]].astype(np.float32)
        with torch.no_grad():
            expected = np.concatenate([backbone(input_ids=torch.tensor([w])).last_hidden_state[0].numpy() for w in windows])
            first = backbone(input_ids=torch.tensor([windows[0]])).last_hidden_state[0].mean(0)
        np.testing.assert_allclose(got, expected, atol=2e-2)  # float16 storage; padding in other batches
        np.testing.assert_allclose(states.dense[row], torch.nn.functional.normalize(first, dim=0).numpy(), atol=1e-4)
        np.testing.assert_array_equal(states.token_ids[states.offsets[row] : states.offsets[row + 1]],
                                      np.concatenate(windows))
    values, offsets, token_ids = states.gather(np.array([2, 0]))
    assert offsets.tolist() == [0, states.lengths[2], states.lengths[2] + states.lengths[0]]
    np.testing.assert_array_equal(values[: offsets[1]], states.values[states.offsets[2] : states.offsets[3]])
    np.testing.assert_array_equal(token_ids[offsets[1] :], states.token_ids[: states.offsets[1]])


def test_a_long_text_is_read_whole_or_capped(backbone, vocab, scifact_docs):
    whole = encode_hidden([scifact_docs[0]], vocab.tokenizer, backbone, window=16)
    capped = encode_hidden([scifact_docs[0]], vocab.tokenizer, backbone, window=16, max_windows=2)
    assert capped.lengths[0] == 32 < whole.lengths[0]


@pytest.mark.parametrize("kwargs", [{"window": 2}, {"window": 513}, {"max_windows": 0}])
def test_bad_window_settings_are_errors(backbone, vocab, kwargs):
    with pytest.raises(ConfigError):
        encode_hidden(["text"], vocab.tokenizer, backbone, **kwargs)


def test_first_windows_from_the_shared_pass_equal_the_backbones_own(backbone, vocab, scifact_docs):
    from recplug_flops_idf.backbone import first_windows_of

    long_text = " ".join(scifact_docs[:3])  # more than one 256-token window
    texts = [long_text, "short text", scifact_docs[1]]
    assert len(vocab.tokenizer(long_text, add_special_tokens=False)["input_ids"]) > 254
    assert first_windows_of(texts, 128) is None  # the sentence-transformers pass reads 256-token windows
    first = first_windows_of(texts, 256)
    shared = encode_hidden(texts, vocab.tokenizer, backbone, window=256, first_windows=first)
    own = encode_hidden(texts, vocab.tokenizer, backbone, window=256)
    np.testing.assert_array_equal(shared.offsets, own.offsets)
    np.testing.assert_array_equal(shared.token_ids, own.token_ids)
    np.testing.assert_allclose(shared.values.astype(np.float32), own.values.astype(np.float32), atol=2e-2)
    np.testing.assert_allclose(shared.dense, own.dense, atol=1e-3)
    # the later windows are the backbone's own pass in both
    later = slice(int(own.offsets[0]) + 256, int(own.offsets[1]))
    np.testing.assert_array_equal(shared.values[later], own.values[later])


def test_first_windows_of_another_length_are_an_error(backbone, vocab, scifact_docs):
    from recplug.errors import IncompatibleFileError
    from recplug_flops_idf.backbone import first_windows_of

    first = first_windows_of([scifact_docs[0]], 256)
    with pytest.raises(IncompatibleFileError, match="first 200-token window has 200 positions"):
        encode_hidden([scifact_docs[0]], vocab.tokenizer, backbone, window=200, first_windows=first)
    with pytest.raises(IncompatibleFileError, match="holds 1 texts"):
        encode_hidden([scifact_docs[0], "two"], vocab.tokenizer, backbone, window=256, first_windows=first)


def test_cached_later_windows_complete_the_shared_pass(backbone, vocab, scifact_docs, tmp_path):
    from recplug.errors import IncompatibleFileError
    from recplug_flops_idf.backbone import cached_later_windows, first_windows_of

    long_text = " ".join(scifact_docs[:3])  # three windows of 256 tokens
    texts = ["short text", long_text, scifact_docs[1]]
    own = encode_hidden(texts, vocab.tokenizer, backbone, window=256)
    later = cached_later_windows(texts, vocab.tokenizer, backbone, 256, tmp_path)
    assert later.lengths[0] == 0 and later.lengths[1] == own.lengths[1] - 256
    assert len(list(tmp_path.glob("later-*.npz"))) == 1
    again = cached_later_windows(texts, vocab.tokenizer, None, 256, tmp_path)  # read back: no backbone needed
    np.testing.assert_array_equal(again.values, later.values)
    np.testing.assert_array_equal(again.token_ids[: later.offsets[2]], own.token_ids[own.offsets[1] + 256 : own.offsets[2]])
    states = encode_hidden(texts, vocab.tokenizer, backbone, window=256, first_windows=first_windows_of(texts, 256),
                           later=again)
    np.testing.assert_array_equal(states.offsets, own.offsets)
    np.testing.assert_array_equal(states.token_ids, own.token_ids)
    np.testing.assert_allclose(states.values.astype(np.float32), own.values.astype(np.float32), atol=2e-2)
    np.testing.assert_array_equal(states.values[own.offsets[1] + 256 : own.offsets[2]],
                                  own.values[own.offsets[1] + 256 : own.offsets[2]])
    np.testing.assert_array_equal(states.select([2, 1]).values[: states.lengths[2]],
                                  states.values[states.offsets[2] : states.offsets[3]])
    with pytest.raises(IncompatibleFileError, match="later"):
        encode_hidden(texts[::-1], vocab.tokenizer, backbone, window=256, later=again)
    (entry,) = tmp_path.glob("later-*.npz")
    entry.write_bytes(entry.read_bytes()[:100])  # a damaged entry is recomputed, not trusted
    redone = cached_later_windows(texts, vocab.tokenizer, backbone, 256, tmp_path)
    np.testing.assert_array_equal(redone.values, later.values)
