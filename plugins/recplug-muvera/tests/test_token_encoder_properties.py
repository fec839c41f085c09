"""Property tests (issue 30) of the ``minilm-tokens`` encoder: any option value and any input gives a correct
result or a RecplugError, never another exception or a hang."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from recplug.errors import RecplugError
from recplug.testing.strategies import ci_settings, garbage, outcome
from recplug_muvera.token_encoder import TokenEmbeddingEncoder, TokenEncoderConfig

ODD_TEXTS = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(),
    st.lists(st.one_of(st.text(max_size=12), st.none(), st.integers(), st.just("\ud800")), max_size=4),
    st.lists(st.text(min_size=1, max_size=40), max_size=4),
)


@ci_settings(max_examples=100)
@given(field=st.sampled_from(sorted(TokenEncoderConfig.__dataclass_fields__)), value=garbage())
def test_any_config_value_is_taken_or_refused(field: str, value: Any) -> None:
    outcome(lambda: TokenEncoderConfig(**{field: value}))


@pytest.fixture(scope="module")
def encoder() -> TokenEmbeddingEncoder:
    return TokenEmbeddingEncoder(cache_dir="", batch_size=8, num_threads=1)


@ci_settings(max_examples=25)
@given(texts=ODD_TEXTS)
def test_any_texts_are_encoded_or_refused(encoder: TokenEmbeddingEncoder, texts: Any) -> None:
    result = outcome(lambda: encoder.encode(texts), seconds=60)
    if result.ok:
        assert len(result.value) == len(texts)
        assert np.isfinite(result.value.values.astype(np.float32)).all()
    else:
        assert isinstance(result.error, RecplugError)
