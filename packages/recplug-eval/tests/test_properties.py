"""Property tests (issue 30) of the ``minilm`` encoder: any option value and any input gives a correct result
or a RecplugError, never another exception or a hang. Options are checked before the model loads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from recplug.errors import ConfigError, RecplugError
from recplug.testing.strategies import ci_settings, garbage, outcome
from recplug_eval.pretrained import load_sentence_transformer
from recplug_eval.sentence_encoder import SentenceEncoderConfig, SentenceTransformerEncoder

#: Odd text inputs: None, one string, numbers, lists mixing strings with None / ints, unpaired surrogates.
ODD_TEXTS = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(),
    st.lists(st.one_of(st.text(max_size=12), st.none(), st.integers(), st.just("\ud800")), max_size=4),
    st.lists(st.text(max_size=40), max_size=4),
)


@ci_settings(max_examples=120)
@given(field=st.sampled_from(sorted(SentenceEncoderConfig.__dataclass_fields__)), value=garbage())
def test_any_config_value_is_taken_or_refused(field: str, value: Any) -> None:
    result = outcome(lambda: SentenceEncoderConfig(**{field: value}))
    if result.ok:
        assert getattr(result.value, field) == value or value != value  # NaN is not equal to itself


@pytest.mark.parametrize(
    "kwargs",
    [
        {"device": "gpu"},
        {"device": 3},
        {"num_threads": 0},
        {"num_threads": True},
        {"max_seq_length": 10**6},
        {"max_seq_length": -1},
        {"path": 5},
        {"path": "/no/such/model"},
    ],
)
def test_bad_model_settings_are_config_errors_before_or_at_loading(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        load_sentence_transformer(**kwargs)


@pytest.fixture(scope="module")
def encoder() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(batch_size=8, num_threads=1)


@ci_settings(max_examples=25)
@given(texts=ODD_TEXTS)
def test_any_texts_are_encoded_or_refused(encoder: SentenceTransformerEncoder, texts: Any) -> None:
    result = outcome(lambda: encoder.encode_queries(texts), seconds=60)
    if result.ok:
        assert result.value.shape == (len(texts), encoder.dimension)
        assert np.isfinite(result.value).all()
    else:
        assert isinstance(result.error, RecplugError)
