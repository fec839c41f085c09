"""Typed, frozen records that discovery hooks return.

A record describes a component: its ``name`` (unique within its family), a ``factory`` that builds it,
a one-line ``description``, ``capabilities`` (descriptive tags for listings, such as ``"gpu"``, ``"save"``:
they never drive behaviour) and, per family, the typed fields a host acts on (a regularizer's
``needs_model``, an encoder's ``output`` and paired ``index``...). Records carry no behaviour; the factory is
called only when a pipeline is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from recplug.errors import ConfigError
from recplug.options import accepted_options, check_options

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
        capabilities: descriptive tags shown in listings (``recplug plugins``); hosts act only on typed fields.
        options: the option names the factory accepts; ``None`` reads them from the factory's signature
            (declare them when the factory takes ``**kwargs``, or options are not checked).
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""
    capabilities: AbstractSet[str] = field(default_factory=frozenset)
    options: AbstractSet[str] | None = None

    #: family name; set by each subclass.
    family = "component"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"{type(self).__name__}.name must be a non-empty string, got {self.name!r}")
        if not callable(self.factory):
            raise TypeError(f"{type(self).__name__} {self.name!r}: factory must be callable")
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        if self.options is not None:
            object.__setattr__(self, "options", frozenset(self.options))

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


@dataclass(frozen=True)
class EmbeddingCompressorSpec(ComponentSpec):
    """An embedding-table recipe; the factory returns a :class:`recplug.protocols.EmbeddingCompressor`."""

    family = "embedding_compressor"


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
    """

    output: str = "dense"
    index: str | None = None
    fits_on_documents: bool = False
    needs_model: bool = False
    family = "retrieval_encoder"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.output not in ENCODER_OUTPUTS:
            raise TypeError(f"RetrievalEncoderSpec {self.name!r}: output must be one of {ENCODER_OUTPUTS}, got {self.output!r}")


@dataclass(frozen=True)
class RetrievalIndexSpec(ComponentSpec):
    """A top-k index; the factory returns a :class:`recplug.protocols.RetrievalIndex`."""

    family = "retrieval_index"


@dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """A named data loader; the factory returns a :class:`recplug.protocols.RetrievalDataset` or
    :class:`recplug.protocols.InteractionDataset`."""

    family = "dataset"


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
class DemoStep:
    """A named part of ``recplug demo``, returned by the ``recplug_demo_steps`` hook.

    Attributes:
        name: unique step name (``--only`` / ``--skip`` use it).
        title: a heading for the report.
        systems: returns the retrieval systems to evaluate in the demo's shared table.
        run: ``run(context) -> markdown`` for custom sections (a :class:`DemoContext`).
        order: steps run by ``(order, name)``; the baselines use 0.

    Both callables import what they need when called: the hook itself imports nothing heavy.
    """

    name: str
    title: str
    systems: Callable[[], Sequence[Any]] | None = None
    run: Callable[[DemoContext], str] | None = None
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
