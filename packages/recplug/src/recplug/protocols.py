"""Runtime contracts for what component factories build.

These are :class:`typing.Protocol` s with explicit, typed capability flags (:class:`IndexCapabilities`,
:class:`CompressorCapabilities`): a host checks a flag or calls a protocol member, never probes with
``hasattr``. Where a host must check that a plugin's object keeps a contract, it uses
:func:`check_protocol` (an ``isinstance`` check against the runtime-checkable protocol, with a one-line
error naming what is missing). Shapes follow torchrec's docstring convention: ``B`` batch size, ``D``
embedding dimension, ``N`` documents, ``Q`` queries, ``V`` vocabulary size, ``k`` results per query.

Heavy types (torch, polars, scipy) appear only in annotations; importing this module imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import polars as pl
    import torch

_T = TypeVar("_T")


def protocol_members(protocol: type) -> tuple[str, ...]:
    """The public attributes and methods ``protocol`` (a :class:`typing.Protocol`) declares, sorted."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (object, Protocol, Generic):
            continue
        names |= set(vars(klass).get("__annotations__", {}))
        names |= {name for name, value in vars(klass).items() if callable(value) or isinstance(value, property)}
    return tuple(sorted(name for name in names if not name.startswith("_")))


def check_protocol(obj: _T, protocol: type, what: str, error: type[Exception] | None = None) -> _T:
    """``obj`` when it keeps runtime-checkable ``protocol``; else ``error`` (default
    :class:`recplug.errors.ConfigError`) in one line naming ``what`` (e.g. ``"dataset 'beir'"``) and the
    members it lacks.

    >>> check_protocol(object(), RetrievalDataset, "dataset 'tiny'")
    Traceback (most recent call last):
    ...
    recplug.errors.ConfigError: dataset 'tiny' (object) does not keep the RetrievalDataset protocol: it lacks corpus, load_notes, name, path, qrels, queries, splits
    """
    if isinstance(obj, protocol):
        return obj
    from recplug.errors import ConfigError

    missing = [name for name in protocol_members(protocol) if not hasattr(obj, name)]
    lacks = f"it lacks {', '.join(missing)}" if missing else "a member has the wrong kind"
    raise (error or ConfigError)(f"{what} ({type(obj).__name__}) does not keep the {protocol.__name__} protocol: {lacks}")


def _flag_tags(flags: Any, names: Mapping[str, str]) -> tuple[str, ...]:
    """The listing tags of the true boolean ``flags`` (a dataclass), by field name -> tag."""
    return tuple(sorted(names.get(f.name, f.name) for f in fields(flags) if getattr(flags, f.name) is True))


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


@dataclass(frozen=True)
class CompressorCapabilities:
    """What an embedding compressor does and supports; hosts check these flags (the trainer refuses sharding
    without ``sharded`` and ``fused``; the compressor kit tests :meth:`EmbeddingCompressor.export` only with
    ``export``).

    Attributes:
        after_step: :meth:`EmbeddingCompressor.after_optimizer_step` changes the tables (masks, prune/grow,
            projection); without it the call does nothing.
        export: :meth:`EmbeddingCompressor.export` / ``load_export`` write and read a compact serving form.
        fused: works with torchrec's fused optimizers, where tables have no ``.grad``.
        sharded: works under torchrec's ``DistributedModelParallel``.

    >>> CompressorCapabilities(export=True, sharded=True).tags()
    ('export', 'sharded')
    """

    after_step: bool = False
    export: bool = False
    fused: bool = False
    sharded: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            if not isinstance(getattr(self, f.name), bool):
                raise TypeError(f"CompressorCapabilities.{f.name} must be a bool, got {getattr(self, f.name)!r}")

    def tags(self) -> tuple[str, ...]:
        """The true flags, sorted: tags for listings."""
        return _flag_tags(self, {})


@runtime_checkable
class EmbeddingCompressor(Protocol):
    """Builds the embedding tables of a model and manages them during training.

    Attributes:
        name: the component name.
        capabilities: a :class:`CompressorCapabilities` (for this instance: it may depend on options).
    """

    name: str
    capabilities: CompressorCapabilities

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
    """What an index supports; hosts check these flags instead of probing methods.

    Attributes:
        exact: search returns the true top-k (no approximation).
        supports_removal: :meth:`RetrievalIndex.remove` works (else it raises ConfigError).
        supports_gpu: the index can run on a GPU.
        supports_save: :meth:`RetrievalIndex.save` / ``load`` work.
        input: the encodings it stores and searches: ``"dense"``, ``"sparse"`` or ``"multivector"`` (a
            retrieval pipeline pairs it only with an encoder whose ``output`` is the same).

    >>> IndexCapabilities(exact=True, input="sparse").tags()
    ('sparse', 'exact', 'save')
    """

    exact: bool = False
    supports_removal: bool = False
    supports_gpu: bool = False
    supports_save: bool = True
    input: EncoderOutput = "dense"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "input" and not isinstance(value, bool):
                raise TypeError(f"IndexCapabilities.{f.name} must be a bool, got {value!r}")
        if self.input not in ("dense", "sparse", "multivector"):
            raise TypeError(f"IndexCapabilities.input must be 'dense', 'sparse' or 'multivector', got {self.input!r}")

    def tags(self) -> tuple[str, ...]:
        """The input kind, then the true flags (``exact``, ``gpu``, ``removal``, ``save``): tags for listings."""
        names = {"supports_removal": "removal", "supports_gpu": "gpu", "supports_save": "save"}
        return (self.input, *_flag_tags(self, names))


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
        capabilities: an :class:`IndexCapabilities` (for this instance: it may depend on options and device).
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

    def memory_bytes(self) -> int:
        """Bytes the index keeps in memory for search: the stored vectors or codes and the structures search
        reads (posting lists, graph links, coarse centroids, rerank copies); not the ids. Reports show it
        beside quality; an estimate where a library does not tell."""
        ...

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

    Attributes:
        name: shown in reports.
        path: where the data lives (reports show it), or ``None`` for data made in memory.
        splits: the ``qrels`` splits.
        load_notes: counts of tolerated oddities met while loading (blank lines, missing titles), by kind;
            empty when there were none. Reports show them.
    """

    name: str
    path: Path | None
    splits: tuple[str, ...]
    load_notes: Mapping[str, int]

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

    Attributes:
        name: shown in reports.
        report: counts of what loading merged or dropped (e.g. ``items_without_features``), by kind; empty
            when nothing was. ``recplug data check`` shows them.

    A class that subclasses this protocol explicitly inherits :meth:`default_config` (no shipped schema).
    """

    name: str
    report: Mapping[str, Any]

    def default_config(self) -> dict[str, Any]:
        """The dataset's shipped training configuration, e.g. its ``"features"`` table (what the recsys
        trainer lays a run's ``[features]`` over); ``{}`` when it ships none."""
        return {}

    def interactions(self) -> pl.DataFrame: ...

    def users(self) -> pl.DataFrame: ...

    def items(self) -> pl.DataFrame: ...

    def split(self, kind: str, seed: int, **options: Any) -> Any: ...
