"""Per-token embeddings of all-MiniLM-L6-v2 as multi-vector sets (``"minilm-tokens"`` encoder).

Each text becomes the ``L x 384`` matrix of its token embeddings (``output_value="token_embeddings"``,
[CLS] and [SEP] included, padding dropped), each row L2-normalised, stored as float16 values + offsets
(:class:`recplug.multivector.MultiVectorBatch`). Encodings are cached on disk, keyed by the model and a
SHA-256 of the texts, so a corpus is encoded once. torch and sentence-transformers load when the
encoder is built.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from recplug.checks import check_int
from recplug.errors import ConfigError, CorruptFileError, InvalidInputError
from recplug.fileio import atomic_writer
from recplug.multivector import MultiVectorBatch
from recplug.validation import check_texts
from recplug_eval import MINILM_NAME, load_sentence_transformer

ENV_CACHE_DIR = "RECPLUG_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$RECPLUG_CACHE_DIR/muvera-tokens`` or ``~/.cache/recplug/muvera-tokens``."""
    env = os.environ.get(ENV_CACHE_DIR)
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "recplug"
    return base / "muvera-tokens"


def texts_checksum(texts: Sequence[str], *salt: str) -> str:
    """SHA-256 over ``salt`` and every text (length-prefixed, so boundaries count)."""
    digest = hashlib.sha256()
    for part in (*salt, *texts):
        raw = part.encode("utf-8")
        digest.update(len(raw).to_bytes(8, "little"))
        digest.update(raw)
    return digest.hexdigest()


@dataclass(frozen=True)
class TokenEncoderConfig:
    """Settings of :class:`TokenEmbeddingEncoder`.

    Attributes:
        max_seq_length: tokens per text (longer texts are truncated; the model's default is 256).
        batch_size: texts per forward pass.
        cache_dir: where encodings are cached (``""`` disables the cache; None: :func:`default_cache_dir`).
        device: ``"cpu"``, ``"cuda"``; None picks CUDA when available.
        num_threads: torch CPU threads (None leaves torch's setting).
    """

    max_seq_length: int = 256
    batch_size: int = 32
    cache_dir: str | None = None
    device: str | None = None
    num_threads: int | None = None

    def __post_init__(self) -> None:
        check_int(self.max_seq_length, "max_seq_length", low=1)
        check_int(self.batch_size, "batch_size", low=1)
        if self.cache_dir is not None and not isinstance(self.cache_dir, (str, os.PathLike)):
            raise ConfigError(f"cache_dir must be a folder path or '' (no cache), got {self.cache_dir!r}")
        # device and num_threads are checked where the model is loaded


class TokenEmbeddingEncoder:
    """A :class:`recplug.protocols.RetrievalEncoder` with ``output="multivector"`` (``D = 384``)."""

    name = "minilm-tokens"
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
        cache = self.settings.cache_dir
        self.cache_dir = None if cache == "" else (Path(cache) if cache else default_cache_dir())

    def config(self) -> dict[str, Any]:
        """What determines the vectors (not batch size, device, threads or cache)."""
        return {
            "encoder": self.name,
            "model": MINILM_NAME,
            "max_seq_length": self.settings.max_seq_length,
            "normalize": True,
            "dtype": "float16",
            "dimension": self.dimension,
        }

    def encode_queries(self, texts: Sequence[str]) -> MultiVectorBatch:
        """``Q`` texts -> their token sets (float16 values + offsets)."""
        return self.encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> MultiVectorBatch:
        """``N`` texts -> their token sets (float16 values + offsets)."""
        return self.encode(texts)

    def encode(self, texts: Sequence[str]) -> MultiVectorBatch:
        """Token sets of ``texts``, from the cache when this model has encoded exactly these texts before."""
        texts = check_texts(texts)
        if not texts:
            return MultiVectorBatch(np.zeros((0, self.dimension), np.float16), np.zeros(1, np.int64))
        cache_file = None
        if self.cache_dir is not None:
            key = texts_checksum(texts, MINILM_NAME, str(self.settings.max_seq_length), "l2-fp16-v1")
            cache_file = self.cache_dir / f"{key}.npz"
            if cache_file.exists():
                return self._read_cache(cache_file)
        batch = self._encode_uncached(texts)
        if cache_file is not None:
            with atomic_writer(cache_file) as handle:
                np.savez(handle, values=batch.values, offsets=batch.offsets)
        return batch

    def _read_cache(self, path: Path) -> MultiVectorBatch:
        try:
            with np.load(path, allow_pickle=False) as data:
                return MultiVectorBatch(data["values"], data["offsets"])
        except (ValueError, OSError, KeyError, InvalidInputError) as exc:
            raise CorruptFileError(f"{path}: token-embedding cache cannot be read ({exc}); delete it") from exc

    def _encode_uncached(self, texts: list[str]) -> MultiVectorBatch:
        from tqdm.auto import tqdm

        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
        sets: list[np.ndarray] = [np.zeros(0)] * len(texts)
        step = max(self.settings.batch_size * 8, 256)
        with tqdm(total=len(texts), desc=f"{self.name}", unit="text", disable=len(texts) < step) as bar:
            for start in range(0, len(texts), step):
                chunk = order[start : start + step]
                out = self.model.encode(
                    [texts[i] for i in chunk],
                    batch_size=self.settings.batch_size,
                    output_value="token_embeddings",
                    convert_to_numpy=False,
                    show_progress_bar=False,
                )
                for i, tokens in zip(chunk, out, strict=True):
                    x = tokens.float().cpu().numpy()
                    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
                    sets[int(i)] = x.astype(np.float16)
                bar.update(len(chunk))
        return MultiVectorBatch.from_sets(sets, dtype=np.float16)
