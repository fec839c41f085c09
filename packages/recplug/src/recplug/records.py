"""Typed, frozen records that discovery hooks return.

A record describes a component: its ``name`` (unique within its family), a ``factory`` that builds it,
a one-line ``description`` and, per family, typed fields a host acts on: a regularizer's ``needs_model``,
an encoder's ``output`` and paired ``index``, an index's :class:`~recplug.protocols.IndexCapabilities`, a
compressor's :class:`~recplug.protocols.CompressorCapabilities`, a dataset's ``kind``. There are no
free-form tags: the tags a listing shows (``recplug plugins``) come from these fields (:meth:`ComponentSpec.tags`),
so what a listing says is what hosts act on. Records carry no behaviour; the factory is called only when a
pipeline is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

from recplug.errors import ConfigError
from recplug.options import accepted_options, check_options
from recplug.protocols import CompressorCapabilities, IndexCapabilities

#: The component families, as named in hook names and configuration files.
FAMILIES: tuple[str, ...] = (
    "regularizer",
    "embedding_compressor",
    "retrieval_encoder",
    "retrieval_index",
    "dataset",
)


@dataclass(frozen=True)
class LazyFactory:
    """A factory that imports ``"package.module:Name"`` only when called (plugin modules stay light) and
    calls it with ``fixed`` plus the caller's options; its accepted options are its target's."""

    target: str
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any]:
        """The imported target."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, **config: Any) -> Any:
        return self.resolve()(**self.fixed, **config)


def lazy_factory(target: str, **fixed: Any) -> LazyFactory:
    """``lazy_factory("recplug.builtins.exact_index:ExactIndex")``; see :class:`LazyFactory`."""
    return LazyFactory(target, dict(fixed))


@dataclass(frozen=True)
class ComponentSpec:
    """What a plugin offers: a named factory of one component family.

    Attributes:
        name: unique name within the family, e.g. ``"faiss"`` or ``"ssl-cfm"``.
        factory: callable returning the component; it takes keyword arguments only (the component's
            configuration) and is the first place heavy libraries may be imported.
        description: one line for listings.
        capabilities: the family's typed capabilities: an :class:`~recplug.protocols.IndexCapabilities`
            (indexes) or a :class:`~recplug.protocols.CompressorCapabilities` (compressors), describing what
            a component built with default options supports; ``None`` (the only value allowed) for the
            families whose records carry typed fields of their own (regularizers, encoders, datasets).
        options: the option names the factory accepts; ``None`` reads them from the factory's signature
            (declare them when the factory takes ``**kwargs``, or options are not checked).
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""
    capabilities: Any = None
    options: AbstractSet[str] | None = None

    #: family name; set by each subclass.
    family = "component"
    #: the type of ``capabilities`` (``None``: the family has none); set by subclasses that have them.
    capabilities_type: ClassVar[type | None] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"{type(self).__name__}.name must be a non-empty string, got {self.name!r}")
        if not callable(self.factory):
            raise TypeError(f"{type(self).__name__} {self.name!r}: factory must be callable")
        self._check_capabilities()
        if self.options is not None:
            object.__setattr__(self, "options", frozenset(self.options))

    def _check_capabilities(self) -> None:
        """A typed capabilities object of the family's type (its default when ``None``), or a TypeError naming
        the record: free-form tag sets are refused, never read."""
        wanted, given, where = self.capabilities_type, self.capabilities, f"{type(self).__name__} {self.name!r}"
        if wanted is None:
            if given is not None:
                own = [f.name for f in fields(self) if f.name not in {g.name for g in fields(ComponentSpec)}]
                raise TypeError(
                    f"{where}: capabilities must be None ({self.family.replace('_', ' ')} records declare the typed "
                    f"fields {', '.join(own)} instead of tags), got {given!r}"
                )
            return
        if given is None:
            object.__setattr__(self, "capabilities", wanted())
        elif not isinstance(given, wanted):
            raise TypeError(
                f"{where}: capabilities must be a recplug.protocols.{wanted.__name__} (typed flags, not tags), "
                f"got {type(given).__name__} {given!r}"
            )

    def tags(self) -> tuple[str, ...]:
        """Short words for listings (``recplug plugins``), derived from the record's typed fields only."""
        return tuple(self.capabilities.tags()) if self.capabilities is not None else ()

    def accepted_options(self) -> frozenset[str] | None:
        """Option names :meth:`create` accepts (``None``: not known, not checked)."""
        return frozenset(self.options) if self.options is not None else accepted_options(self.factory)

    def create(self, **config: Any) -> Any:
        """Build the component with ``config`` as keyword arguments.

        Raises:
            ConfigError: an option the factory does not accept (the error lists the accepted ones).
        """
        check_options(f"{self.family.replace('_', ' ')} {self.name!r}", config, self.accepted_options())
        return self.factory(**config)


@dataclass(frozen=True)
class RegularizerSpec(ComponentSpec):
    """A loss term; the factory returns a :class:`recplug.protocols.Regularizer`.

    Attributes:
        needs_model: the trainer passes ``model=`` (the model being trained) to the factory.
        needs_item_features: the trainer passes ``feature_space=`` (every item's features) and
            ``train_item_ids=`` (the training interactions' item ids) to the factory.
    """

    needs_model: bool = False
    needs_item_features: bool = False
    family = "regularizer"

    def tags(self) -> tuple[str, ...]:
        """``needs_model`` / ``needs_item_features`` when set."""
        return tuple(n for n, on in (("needs_model", self.needs_model), ("needs_item_features", self.needs_item_features)) if on)


@dataclass(frozen=True)
class EmbeddingCompressorSpec(ComponentSpec):
    """An embedding-table recipe; the factory returns a :class:`recplug.protocols.EmbeddingCompressor`.

    Attributes:
        capabilities: a :class:`recplug.protocols.CompressorCapabilities`: what a compressor built with
            default options does (the built instance's own ``capabilities`` are authoritative: some depend
            on options; the compressor kit checks that ``export``, ``fused`` and ``sharded`` agree).
    """

    capabilities: CompressorCapabilities = field(default_factory=CompressorCapabilities)
    family = "embedding_compressor"
    capabilities_type = CompressorCapabilities


#: What a retrieval encoder outputs, and what an index takes (``IndexCapabilities.input``).
ENCODER_OUTPUTS = ("dense", "sparse", "multivector")


@dataclass(frozen=True)
class RetrievalEncoderSpec(ComponentSpec):
    """A query/document encoder; the factory returns a :class:`recplug.protocols.RetrievalEncoder`.

    Attributes:
        output: ``"dense"``, ``"sparse"`` or ``"multivector"`` (must equal the built encoder's ``output``).
        index: the index component to pair it with when the user names none (``None``: a dense default).
        fits_on_documents: the encoder learns from the documents it encodes (e.g. IDF), so its document
            encodings are never served from a cache (skipping ``encode_documents`` would leave it unfitted).
        needs_model: it loads a model (listings; hosts may warn about download-free operation).
        inference_free_queries: queries are encoded without running a model (e.g. a tokenizer and a term
            weight lookup), so query latency has no model inference in it (listings, reports).
    """

    output: str = "dense"
    index: str | None = None
    fits_on_documents: bool = False
    needs_model: bool = False
    inference_free_queries: bool = False
    family = "retrieval_encoder"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.output not in ENCODER_OUTPUTS:
            raise TypeError(f"RetrievalEncoderSpec {self.name!r}: output must be one of {ENCODER_OUTPUTS}, got {self.output!r}")

    def tags(self) -> tuple[str, ...]:
        """The output kind, then the flags that are set."""
        flags = (
            ("fits_on_documents", self.fits_on_documents),
            ("needs_model", self.needs_model),
            ("inference_free_queries", self.inference_free_queries),
        )
        return (self.output, *(n for n, on in flags if on))


@dataclass(frozen=True)
class RetrievalIndexSpec(ComponentSpec):
    """A top-k index; the factory returns a :class:`recplug.protocols.RetrievalIndex`.

    Attributes:
        capabilities: a :class:`recplug.protocols.IndexCapabilities`: what an index built with default
            options on a CPU supports (the built instance's own ``capabilities`` are authoritative: removal
            or GPU support may depend on options and device; the index kit checks that ``input`` and
            ``supports_save`` agree).
    """

    capabilities: IndexCapabilities = field(default_factory=IndexCapabilities)
    family = "retrieval_index"
    capabilities_type = IndexCapabilities


#: The kinds of dataset (``DatasetSpec.kind``) and the protocol each one's factory returns.
DATASET_KINDS = ("retrieval", "interactions")


@dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """A named data loader; the factory returns a :class:`recplug.protocols.RetrievalDataset` (``kind``
    ``"retrieval"``) or a :class:`recplug.protocols.InteractionDataset` (``kind`` ``"interactions"``).

    Attributes:
        kind: ``"retrieval"`` or ``"interactions"``; a host refuses a dataset of the other kind by its record,
            before building it.
        downloads: the factory downloads the data on first use (then reads its cache): it needs the network once.
    """

    kind: Literal["retrieval", "interactions"] = "retrieval"
    downloads: bool = False
    family = "dataset"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind not in DATASET_KINDS:
            raise TypeError(f"DatasetSpec {self.name!r}: kind must be one of {DATASET_KINDS}, got {self.kind!r}")

    def tags(self) -> tuple[str, ...]:
        """The kind, then ``download`` when the factory downloads."""
        return (self.kind, "download") if self.downloads else (self.kind,)


@dataclass(frozen=True)
class CommandSpec:
    """A ``recplug`` sub-command contributed by a package.

    Attributes:
        name: the sub-command, e.g. ``"eval"``.
        help: one line for ``recplug --help``.
        configure: ``configure(parser)`` adds arguments to an ``argparse.ArgumentParser``.
        run: ``run(args, pm) -> int`` executes the command with the parsed namespace and the plugin manager
            the command line built (one per process: a command never loads the plugins again); returns an
            exit code.
    """

    name: str
    help: str
    configure: Callable[[Any], None]
    run: Callable[[Any, Any], int]
    family = "command"


@dataclass(frozen=True)
class DemoContext:
    """What a demo step's ``run`` gets: the output folder, the evaluation config, the plugin manager and the
    report of the shared retrieval evaluation (``None`` if no step had systems)."""

    output_dir: Any
    config: Any
    pm: Any
    report: Any = None


@dataclass(frozen=True)
class DemoSection:
    """What a demo step's ``run`` returns: its part of the report.

    Attributes:
        markdown: the section body (tables, text; no heading: the step's title is the heading). Images are
            referenced with markdown links relative to the demo's output folder (``![recall](muvera/plot.png)``);
            the HTML report embeds them.
        results: JSON-serialisable measurements, stored under the step's name in the demo's ``results.json``
            (every number the markdown shows should be here).
        images: the image files the markdown references, relative to the output folder (checked to exist).
        caveats: plain statements a reader must see (e.g. "the difference is within the seed spread").
        commands: commands that reproduce what the section summarises (a benchmark's full run).
    """

    markdown: str
    results: Mapping[str, Any] = field(default_factory=dict)
    images: Sequence[str] = ()
    caveats: Sequence[str] = ()
    commands: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.markdown, str):
            raise TypeError(f"DemoSection.markdown must be a string, got {type(self.markdown).__name__}")
        for name in ("images", "caveats", "commands"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"DemoSection.{name} must be a sequence of strings, got {value!r}")
            object.__setattr__(self, name, tuple(value))


@dataclass(frozen=True)
class DemoStep:
    """A named part of ``recplug demo``, returned by the ``recplug_demo_steps`` hook.

    Attributes:
        name: unique step name (``--only`` / ``--skip`` use it).
        title: a heading for the report.
        systems: returns the retrieval systems to evaluate in the demo's shared table.
        run: ``run(context) -> DemoSection`` for custom sections (given a :class:`DemoContext`); a plain
            markdown string is taken as ``DemoSection(markdown)``.
        order: steps run by ``(order, name)``; the baselines use 0.

    Both callables import what they need when called: the hook itself imports nothing heavy.
    """

    name: str
    title: str
    systems: Callable[[], Sequence[Any]] | None = None
    run: Callable[[DemoContext], DemoSection | str] | None = None
    order: int = 100
    family = "demo_step"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"demo step name {self.name!r} must be a word (letters, digits, - and _)")
        if self.systems is None and self.run is None:
            raise ConfigError(f"demo step {self.name!r} has neither systems nor run")


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    cls.family: cls
    for cls in (RegularizerSpec, EmbeddingCompressorSpec, RetrievalEncoderSpec, RetrievalIndexSpec, DatasetSpec)
}
