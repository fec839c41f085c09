"""Conformance kit for retrieval encoders (:class:`recplug.protocols.RetrievalEncoder`)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from recplug.errors import InvalidInputError
from recplug.testing.kit_guard import ConformanceKit

DEFAULT_TEXTS = [
    "Vitamin D deficiency is associated with an increased risk of fractures.",
    "Aspirin reduces the risk of heart attack in older adults.",
    "The protein folds into a stable structure at body temperature.",
]


def rows_of(encoded: Any, output: str) -> int:
    """Number of encoded items in an encoder result of kind ``output``."""
    if output == "multivector":
        return len(encoded)
    return int(encoded.shape[0])


def as_dense(encoded: Any, output: str) -> np.ndarray:
    """A comparable dense array of an encoder result (sparse -> toarray, multivector -> values)."""
    if output == "sparse":
        return np.asarray(encoded.toarray())
    if output == "multivector":
        return np.asarray(encoded.values, dtype=np.float32)
    return np.asarray(encoded)


class EncoderConformance(ConformanceKit):
    """Checks an encoder's declared output, shapes, determinism, config and empty input.

    Fixtures to provide:
        encoder: the built component.

    Fixtures with defaults:
        encoder_texts: a few short documents (default: three sentences).
    """

    @pytest.fixture
    def encoder_texts(self) -> list[str]:
        return list(DEFAULT_TEXTS)

    def test_declares_protocol_attributes(self, encoder: Any) -> None:
        assert isinstance(encoder.name, str) and encoder.name
        assert encoder.output in ("dense", "sparse", "multivector")
        assert isinstance(encoder.dimension, int) and encoder.dimension > 0

    def test_config_is_json_and_stable(self, encoder: Any) -> None:
        config = encoder.config()
        assert isinstance(config, dict)
        assert json.loads(json.dumps(config)) == config
        assert encoder.config() == config

    @pytest.mark.parametrize("side", ["documents", "queries"])
    def test_shapes_and_finiteness(self, encoder: Any, encoder_texts: list[str], side: str) -> None:
        encode = encoder.encode_documents if side == "documents" else encoder.encode_queries
        encoded = encode(encoder_texts)
        assert rows_of(encoded, encoder.output) == len(encoder_texts)
        dense = as_dense(encoded, encoder.output)
        assert dense.shape[-1] == encoder.dimension
        assert np.isfinite(dense).all()
        if encoder.output == "dense":
            assert dense.dtype == np.float32

    def test_deterministic(self, encoder: Any, encoder_texts: list[str]) -> None:
        first = as_dense(encoder.encode_documents(encoder_texts), encoder.output)
        second = as_dense(encoder.encode_documents(encoder_texts), encoder.output)
        np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)

    def test_batch_independence(self, encoder: Any, encoder_texts: list[str]) -> None:
        together = as_dense(encoder.encode_documents(encoder_texts[:2]), encoder.output)
        alone = as_dense(encoder.encode_documents(encoder_texts[:1]), encoder.output)
        if encoder.output == "multivector":
            together = together[: alone.shape[0]]
        else:
            together = together[:1]
        np.testing.assert_allclose(together, alone, rtol=1e-3, atol=1e-4)

    def test_empty_input(self, encoder: Any) -> None:
        """No texts: an empty result with the right width, or an InvalidInputError; never a crash."""
        try:
            encoded = encoder.encode_documents([])
        except InvalidInputError:
            return
        assert rows_of(encoded, encoder.output) == 0
