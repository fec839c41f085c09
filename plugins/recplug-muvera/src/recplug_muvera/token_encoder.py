"""Per-token embeddings of all-MiniLM-L6-v2 as multi-vector sets (``"minilm-tokens"`` encoder).

Each text becomes the ``L x 384`` matrix of its token embeddings (``output_value="token_embeddings"``,
[CLS] and [SEP] included, padding dropped), each row L2-normalised, stored as float16 values + offsets
(:class:`recplug.multivector.MultiVectorBatch`). Documents come from recplug-eval's shared forward pass
(:func:`recplug_eval.sentence_encoder.shared_token_embeddings`: the unnormalised token embeddings, cached
once per model and corpus and also used by the dense ``"minilm"`` encoder), so a corpus is run through
the model once; queries are encoded live. torch and sentence-transformers load when the encoder is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recplug.checks import check_choice, check_int
from recplug.errors import ConfigError
from recplug.multivector import MultiVectorBatch
from recplug.validation import check_texts
from recplug_eval import (
    MINILM_NAME,
    forward_token_embeddings,
    load_sentence_transformer,
    model_description,
    normalised_tokens,
    precision_key,
    shared_token_embeddings,
    use_bf16,
)


@dataclass(frozen=True)
class TokenEncoderConfig:
    """Settings of :class:`TokenEmbeddingEncoder`.

    Attributes:
        max_seq_length: tokens per text (longer texts are truncated; the model's default is 256).
        batch_size: texts per forward pass.
        cache_dir: folder of the shared forward pass (``""`` disables the cache; None: the default of
            :class:`recplug_eval.embedding_cache.TokenEmbeddingCache`).
        device: ``"cpu"``, ``"cuda"``; None picks CUDA when available.
        num_threads: torch CPU threads (None leaves torch's setting).
        bf16: run the model under bfloat16 autocast; None decides from the CPU (:func:`recplug_eval.use_bf16`).
    """

    max_seq_length: int = 256
    batch_size: int = 32
    cache_dir: str | None = None
    device: str | None = None
    num_threads: int | None = None
    bf16: bool | None = None

    def __post_init__(self) -> None:
        check_int(self.max_seq_length, "max_seq_length", low=1)
        check_int(self.batch_size, "batch_size", low=1)
        check_choice(self.bf16, "bf16", (True, False, None))
        if self.cache_dir is not None and not isinstance(self.cache_dir, (str, os.PathLike)):
            raise ConfigError(f"cache_dir must be a folder path or '' (no cache), got {self.cache_dir!r}")
        # device and num_threads are checked where the model is loaded


class TokenEmbeddingEncoder:
    """A :class:`recplug.protocols.RetrievalEncoder` with ``output="multivector"`` (``D = 384``)."""

    name = "minilm-tokens"
    #: document encodings come from the shared forward-pass cache: the runner does not cache them again
    caches_documents = True
    recplug_options = frozenset(TokenEncoderConfig.__dataclass_fields__)
    output = "multivector"

    def __init__(self, **config: Any) -> None:
        try:
            self.settings = TokenEncoderConfig(**config)
        except TypeError as exc:
            raise ConfigError(f"encoder {self.name!r}: {exc}") from exc
        self.model = load_sentence_transformer(None, self.settings.device, self.settings.num_threads,
                                               self.settings.max_seq_length)
        self.dimension = int(self.model[0].auto_model.config.hidden_size)
        self.bf16 = use_bf16(self.model, self.settings.bf16)

    def config(self) -> dict[str, Any]:
        """What determines the vectors (not batch size, device, threads or cache)."""
        return {
            "encoder": self.name,
            "model": MINILM_NAME,
            "max_seq_length": self.settings.max_seq_length,
            "normalize": True,
            "dtype": "float16",
            "dimension": self.dimension,
            **precision_key(self.bf16),
        }

    def encode_queries(self, texts: Sequence[str]) -> MultiVectorBatch:
        """``Q`` texts -> their token sets (float16 values + offsets), encoded live (not cached)."""
        texts = check_texts(texts, "queries")
        return normalised_tokens(forward_token_embeddings(self.model, texts, self.settings.batch_size, self.name,
                                                          self.bf16))

    def encode_documents(self, texts: Sequence[str]) -> MultiVectorBatch:
        """``N`` texts -> their token sets (float16 values + offsets), derived from the shared forward pass."""
        texts = check_texts(texts, "documents")
        described = model_description(MINILM_NAME, self.settings.max_seq_length, self.bf16)
        tokens = shared_token_embeddings(self.model, described, texts, batch_size=self.settings.batch_size,
                                         cache_dir=self.settings.cache_dir, desc=f"{self.name}: documents")
        return normalised_tokens(tokens)

    def encode(self, texts: Sequence[str]) -> MultiVectorBatch:
        """Token sets of ``texts`` (as documents: through the shared, cached forward pass)."""
        return self.encode_documents(texts)
