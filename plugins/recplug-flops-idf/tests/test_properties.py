"""Property tests of the FLOPS regularizers and the model-free parts of the inference-free encoder (options,
IDF, query encoding): any value either gives a correct result or a RecplugError, never another exception or a
hang (issue 30). The document model (MiniLM) is not run here."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from recplug import load_plugin_manager
from recplug.errors import ConfigError, InvalidInputError
from recplug.testing.strategies import ci_settings, garbage, outcome


@pytest.fixture(scope="module")
def pm():
    return load_plugin_manager()


FLOPS_OPTIONS = {
    "weight": st.floats(-1, 2),
    "warmup_steps": st.integers(-1, 50),
    "key": st.sampled_from(["doc_term_weights", "", "other"]),
}


@st.composite
def options(draw, plausible: dict[str, st.SearchStrategy]) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(sorted(plausible)), unique=True, max_size=len(plausible)))
    return {key: draw(st.one_of(plausible[key], plausible[key], garbage())) for key in chosen}


@pytest.mark.parametrize("name", ["flops", "flops-idf"])
@ci_settings(max_examples=100)
@given(opts=options(FLOPS_OPTIONS))
def test_flops_takes_any_options(pm, name: str, opts: dict[str, Any]) -> None:
    made = outcome(lambda: pm.create("regularizer", name, **opts))
    event("built" if made.ok else "refused")
    if not made.ok:
        assert isinstance(made.error, ConfigError)
        return
    reg = made.value
    weights = [reg.schedule(s) for s in (0, 1, opts.get("warmup_steps", 100) + 1)]
    assert all(isinstance(w, float) and math.isfinite(w) and w >= 0 for w in weights)
    assert weights[-1] == pytest.approx(float(opts.get("weight", 1e-3)))
    w = torch.tensor([[1.0, -2.0, 0.0], [3.0, 0.0, 0.0]], requires_grad=True)
    parts = reg({}, {reg.key: w})
    assert float(parts["flops"].detach()) == pytest.approx(2.0**2 + 1.0**2)


DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool]


@st.composite
def tensors(draw):
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    dtype = draw(st.sampled_from(DTYPES))
    values = torch.rand(shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 999))), dtype=torch.float64)
    flat = values.view(-1)
    if flat.numel() and draw(st.booleans()):
        flat[draw(st.integers(0, flat.numel() - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf, 1e30]))
    if not dtype.is_floating_point:
        values = torch.nan_to_num(values, nan=0.0, posinf=3.0, neginf=-3.0).clamp(-3, 3)
    return values.to(dtype)


@pytest.mark.parametrize("name", ["flops", "flops-idf"])
@ci_settings(max_examples=100)
@given(value=st.one_of(tensors(), garbage(), st.just(np.ones((2, 3)))))
def test_flops_on_any_term_weights(pm, name: str, value: Any) -> None:
    reg = pm.create("regularizer", name)
    result = outcome(lambda: reg({}, {"doc_term_weights": value}))
    good = isinstance(value, torch.Tensor) and value.dtype.is_floating_point and value.dim() == 2 and value.shape[0] > 0
    if not result.ok:
        assert isinstance(result.error, InvalidInputError) and not good, result.error
        return
    assert good
    part = result.value["flops"]
    expected = (value.double().abs().mean(dim=0) ** 2).sum()
    if torch.isfinite(expected) and expected < torch.finfo(value.dtype).max / 2:
        torch.testing.assert_close(part.double(), expected, rtol=2e-2, atol=1e-6)
    else:
        assert not torch.isfinite(part) or part >= torch.finfo(value.dtype).max / 4


@pytest.mark.parametrize("name", ["flops", "flops-idf"])
@ci_settings(max_examples=80)
@given(idf=st.one_of(tensors(), garbage(), st.lists(st.floats(allow_nan=True), max_size=5)))
def test_term_weights_of_any_idf(pm, name: str, idf: Any) -> None:
    reg = pm.create("regularizer", name)
    result = outcome(lambda: reg.term_weights(idf))
    if not result.ok:
        assert isinstance(result.error, InvalidInputError)
        return
    given_idf = torch.as_tensor(np.asarray(idf.tolist() if isinstance(idf, torch.Tensor) else idf, dtype=np.float64))
    assert given_idf.dim() == 1 and torch.isfinite(given_idf).all()
    out = result.value
    assert out.dtype == torch.float32 and out.shape == given_idf.shape
    expected = torch.ones_like(out) if name == "flops" else torch.relu(given_idf.float())
    torch.testing.assert_close(out, expected)


# ---------------------------------------------------------------------------------------------- query side
ODD_TEXTS = ["", "   ", "[CLS] [SEP]", "\u2603", "\ud800 broken surrogate", "cancer " * 2000, "Café naïve 東京", "\x00\x01"]


def texts() -> st.SearchStrategy:
    item = st.one_of(st.text(max_size=40), st.sampled_from(ODD_TEXTS), st.sampled_from(["cancer cells", "protein"]),
                     garbage())
    return st.one_of(st.lists(item, max_size=4), st.lists(item, max_size=4).map(tuple), garbage())


@pytest.fixture(scope="module")
def idf(vocab) -> np.ndarray:
    return np.linspace(0.1, 5.0, vocab.size, dtype=np.float32)


@pytest.mark.parametrize("weighting", ["idf", "binary"])
@ci_settings(max_examples=120)
@given(batch=texts())
def test_query_encoder_on_any_texts(vocab, idf, weighting: str, batch: Any) -> None:
    from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder

    encoder = InferenceFreeQueryEncoder(vocab, idf, weighting)
    result = outcome(lambda: encoder.encode(batch))
    event("encoded" if result.ok else "refused")
    if not result.ok:
        assert isinstance(result.error, InvalidInputError)
        return
    queries = list(batch)
    matrix = result.value
    assert matrix.shape == (len(queries), vocab.size) and matrix.dtype == np.float32
    for row, text in enumerate(queries):
        terms = set(vocab.token_ids([text])[0].tolist())
        got = matrix[row]
        assert set(got.indices.tolist()) == terms and terms
        expected = np.ones(len(got.indices)) if weighting == "binary" else idf[got.indices]
        np.testing.assert_allclose(got.data, expected, rtol=1e-6)


@ci_settings(max_examples=60)
@given(value=st.one_of(garbage(), st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=3),
                       st.sampled_from(["missing.npy", "/dev/null"])))
def test_query_encoder_on_any_idf(vocab, value: Any) -> None:
    from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder

    result = outcome(lambda: InferenceFreeQueryEncoder(vocab, value))
    assert not result.ok and isinstance(result.error, InvalidInputError)  # never V finite values


ENCODER_OPTIONS = {
    "max_length": st.integers(0, 600),
    "max_windows": st.one_of(st.none(), st.integers(-1, 4)),
    "query_weighting": st.sampled_from(["idf", "binary", "bm25"]),
    "batch_size": st.integers(-1, 64),
    "bf16": st.one_of(st.none(), st.booleans()),
    "lexical_weight": st.floats(-1, 2),
    "head_path": st.sampled_from([None, "does/not/exist.pt"]),
    "model_dir": st.sampled_from([None, "/nonexistent/model"]),
    "idf": st.sampled_from([None, "missing.npy"]),
}


@ci_settings(max_examples=80)
@given(opts=options(ENCODER_OPTIONS), use_idf=st.booleans())
def test_encoder_takes_any_options(pm, vocab, idf, opts: dict[str, Any], use_idf: bool) -> None:
    if use_idf and "idf" not in opts:
        opts["idf"] = idf
    made = outcome(lambda: pm.create("retrieval_encoder", "inference-free-sparse", **opts))
    event("built" if made.ok else "refused")
    if not made.ok:
        assert isinstance(made.error, ConfigError | InvalidInputError), made.error
        return
    encoder = made.value
    assert encoder.dimension == vocab.size and encoder.output == "sparse"
    config = encoder.config()
    assert json.loads(json.dumps(config)) == config
    if encoder.idf is None:
        with pytest.raises(ConfigError, match="IDF"):
            encoder.encode_queries(["cancer cells"])
        return
    queries = encoder.encode_queries(["cancer cells", "protein"])
    assert queries.shape == (2, vocab.size) and queries.nnz >= 2 and np.isfinite(queries.data).all()
    with pytest.raises(InvalidInputError):
        encoder.encode_queries(None)
