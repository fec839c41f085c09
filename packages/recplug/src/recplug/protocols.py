"""Runtime contracts for what component factories build.

These are :class:`typing.Protocol` s with explicit capability flags: a host checks a flag, never probes
with ``hasattr``. Shapes follow torchrec's docstring convention: ``B`` batch size, ``D`` embedding
dimension, ``N`` documents, ``Q`` queries, ``V`` vocabulary size, ``k`` results per query.

Heavy types (torch, polars, scipy) appear only in annotations; importing this module imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import polars as pl
    import torch

# ----------------------------------------------------------------------------------------------------
# Regularizers
# ----------------------------------------------------------------------------------------------------


@runtime_checkable
class WeightSchedule(Protocol):
    """Maps a training step to the weight of a loss term: ``schedule(step) -> float``."""

    def __call__(self, step: int) -> float: ...


@runtime_checkable
class Regularizer(Protocol):
    """A term of the training loss.

    ``reg(batch, outputs)`` returns named, *unweighted* scalar tensors; the trainer adds
    ``reg.schedule(step) * sum(parts.values())`` to the loss and logs every part under
    ``f"{reg.name}/{part}"``.

    Attributes:
        name: the component name.
        schedule: the weight schedule.
        requires: keys of ``outputs`` the regularizer reads, e.g. ``{"item_embeddings"}`` (B x D) or
            ``{"doc_term_weights"}`` (B x V); the trainer checks them before the first step.
    """

    name: str
    schedule: WeightSchedule
    requires: frozenset[str]

    def __call__(self, batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]: ...


# ----------------------------------------------------------------------------------------------------
# Embedding compressors
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    """One embedding table, independent of how it is stored.

    Attributes:
        name: table name, e.g. ``"t_item_id"``.
        num_embeddings: rows (ids must lie in ``[0, num_embeddings)``).
        embedding_dim: columns ``D``.
        feature_names: the sparse features (KeyedJaggedTensor keys) looked up in this table.
        pooling: ``"sum"`` or ``"mean"`` over the values of a multi-valued feature.
    """

    name: str
    num_embeddings: int
    embedding_dim: int
    feature_names: tuple[str, ...]
    pooling: Literal["sum", "mean"] = "sum"

    def __post_init__(self) -> None:
        import numbers

        from recplug.errors import ConfigError

        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"table name must be a non-empty string, got {self.name!r}")
        sizes = (self.num_embeddings, self.embedding_dim)
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in sizes):
            raise ConfigError(
                f"table {self.name!r}: num_embeddings and embedding_dim must be positive integers, "
                f"got {self.num_embeddings!r} x {self.embedding_dim!r}"
            )
        object.__setattr__(self, "num_embeddings", int(self.num_embeddings))
        object.__setattr__(self, "embedding_dim", int(self.embedding_dim))
        features = (self.feature_names,) if isinstance(self.feature_names, str) else self.feature_names
        if not isinstance(features, (tuple, list)) or not all(isinstance(f, str) and f for f in features):
            raise ConfigError(f"table {self.name!r}: feature_names must be non-empty strings, got {self.feature_names!r}")
        if not features:
            raise ConfigError(f"table {self.name!r}: feature_names is empty")
        if len(set(features)) != len(features):
            raise ConfigError(f"table {self.name!r}: feature_names repeat a name: {list(features)}")
        object.__setattr__(self, "feature_names", tuple(features))
        if not isinstance(self.pooling, str) or self.pooling not in ("sum", "mean"):
            raise ConfigError(f"table {self.name!r}: pooling must be 'sum' or 'mean', got {self.pooling!r}")


@dataclass(frozen=True)
class ExportInfo:
    """What :meth:`EmbeddingCompressor.export` wrote: the file and its real serving size in bytes."""

    path: Path
    serving_bytes: int
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class EmbeddingCompressor(Protocol):
    """Builds the embedding tables of a model and manages them during training.

    Attributes:
        name: the component name.
        capabilities: flags: ``"after_step"`` (needs :meth:`after_optimizer_step`), ``"export"``,
            ``"fused"`` (works with torchrec's fused optimizers, where tables have no ``.grad``),
            ``"sharded"`` (works under ``DistributedModelParallel``).
    """

    name: str
    capabilities: frozenset[str]

    def build(self, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """A module mapping a KeyedJaggedTensor to a KeyedTensor of pooled embeddings (B x sum D),
        with the interface of ``torchrec.EmbeddingBagCollection``."""
        ...

    def attach_optimizer(self, optimizer: Any) -> None:
        """Receive the plain (unsharded) optimizer of the tables once the trainer has made it, so the compressor
        can also manage its state (e.g. zero it where weights are masked); a compressor with no such state does
        nothing. Fused optimizers live inside the tables and are never passed."""
        ...

    def after_optimizer_step(self, module: torch.nn.Module, step: int) -> dict[str, float]:
        """Act after optimizer step ``step`` (mask, prune/grow); returns statistics to log."""
        ...

    def export(self, module: torch.nn.Module, path: Path) -> ExportInfo:
        """Write the compact serving form of the trained tables to ``path`` (atomically)."""
        ...

    def load_export(self, path: Path, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """Rebuild a serving module from :meth:`export` output; a shape mismatch with ``tables`` is an
        :class:`recplug.errors.IncompatibleFileError`."""
        ...


# ----------------------------------------------------------------------------------------------------
# Retrieval encoders
# ----------------------------------------------------------------------------------------------------

EncoderOutput = Literal["dense", "sparse", "multivector"]


@runtime_checkable
class RetrievalEncoder(Protocol):
    """Encodes queries and documents for an index.

    Attributes:
        name: the component name.
        output: ``"dense"`` (float32 ndarray Q x D), ``"sparse"`` (scipy CSR matrix Q x V) or
            ``"multivector"`` (a :class:`recplug.multivector.MultiVectorBatch`).
        dimension: ``D`` or ``V``.
    """

    name: str
    output: EncoderOutput
    dimension: int

    def config(self) -> dict[str, Any]:
        """JSON-serialisable configuration; stored in index manifests and compared on load."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> Any:
        """Encode ``Q`` query strings."""
        ...

    def encode_documents(self, texts: Sequence[str]) -> Any:
        """Encode ``N`` document strings."""
        ...


# ----------------------------------------------------------------------------------------------------
# Retrieval indexes
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexCapabilities:
    """What an index supports; hosts check these flags instead of probing methods."""

    exact: bool = False
    supports_removal: bool = False
    supports_gpu: bool = False
    supports_save: bool = True
    input: EncoderOutput = "dense"


@dataclass(frozen=True)
class SearchResult:
    """Top-k answers for ``Q`` queries.

    Attributes:
        ids: ``Q x k`` array of document ids (the dtype given to :meth:`RetrievalIndex.add`); slots past
            the number of stored documents hold ``""`` (string ids) or ``-1`` (integer ids).
        scores: ``Q x k`` float32, best first (higher is better; L2 indexes return negated distances);
            empty slots hold ``-inf``.
    """

    ids: np.ndarray
    scores: np.ndarray


@runtime_checkable
class RetrievalIndex(Protocol):
    """Stores encoded documents and answers top-k queries.

    Attributes:
        name: the component name.
        capabilities: an :class:`IndexCapabilities`.
        dimension: vector dimension ``D``.
    """

    name: str
    capabilities: IndexCapabilities
    dimension: int

    def add(self, vectors: Any, ids: Sequence[Any] | np.ndarray) -> None:
        """Add ``N`` vectors (N x D) with their ids."""
        ...

    def search(self, queries: Any, k: int) -> SearchResult:
        """Top ``k`` documents for each of ``Q`` queries (Q x D)."""
        ...

    def remove(self, ids: Sequence[Any] | np.ndarray) -> int:
        """Remove the given ids (unknown ones are ignored); returns how many were removed. An index whose
        ``capabilities.supports_removal`` is False raises :class:`recplug.errors.ConfigError`."""
        ...

    def __len__(self) -> int: ...

    def save(self, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> Path:
        """Write the index and its manifest under directory ``path`` atomically; returns ``path``."""
        ...

    @classmethod
    def load(cls, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> RetrievalIndex:
        """Read an index saved by :meth:`save`; a different ``encoder_config`` than the saved one is an
        :class:`recplug.errors.IncompatibleFileError`, a damaged file a :class:`recplug.errors.CorruptFileError`."""
        ...


# ----------------------------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------------------------


@runtime_checkable
class RetrievalDataset(Protocol):
    """A BEIR-style collection as polars frames.

    ``corpus()``: columns ``doc_id`` (str), ``title`` (str), ``text`` (str).
    ``queries()``: ``query_id`` (str), ``text`` (str).
    ``qrels(split)``: ``query_id`` (str), ``doc_id`` (str), ``relevance`` (int).
    """

    name: str
    splits: tuple[str, ...]

    def corpus(self) -> pl.DataFrame: ...

    def queries(self) -> pl.DataFrame: ...

    def qrels(self, split: str) -> pl.DataFrame: ...


@runtime_checkable
class InteractionDataset(Protocol):
    """User-item interactions with side features as polars frames.

    ``interactions()``: ``user_id`` (int), ``item_id`` (int), ``rating`` (float), ``timestamp`` (int).
    ``users()``: ``user_id`` plus user features; ``items()``: ``item_id`` plus item features.
    ``split(kind, seed, ...)``: the train / valid / test interactions (``recplug_eval.datasets.splits``
    implements the usual kinds for any dataset: ``recbole``, ``loo``, ``temporal``, ``column``, ``files``).
    """

    name: str

    def interactions(self) -> pl.DataFrame: ...

    def users(self) -> pl.DataFrame: ...

    def items(self) -> pl.DataFrame: ...

    def split(self, kind: str, seed: int, **options: Any) -> Any: ...
