"""Typed, frozen records that discovery hooks return.

A record describes a component: its ``name`` (unique within its family), a ``factory`` that builds it,
a one-line ``description`` and ``capabilities`` (free-form flags such as ``"gpu"``, ``"save"``,
``"needs_model"``). Records carry no behaviour; the factory is called only when a pipeline is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

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
        capabilities: flags a host may check before building the component.
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
    """A loss term; the factory returns a :class:`recplug.protocols.Regularizer`."""

    family = "regularizer"


@dataclass(frozen=True)
class EmbeddingCompressorSpec(ComponentSpec):
    """An embedding-table recipe; the factory returns a :class:`recplug.protocols.EmbeddingCompressor`."""

    family = "embedding_compressor"


@dataclass(frozen=True)
class RetrievalEncoderSpec(ComponentSpec):
    """A query/document encoder; the factory returns a :class:`recplug.protocols.RetrievalEncoder`."""

    family = "retrieval_encoder"


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
        run: ``run(args) -> int`` executes the command with the parsed namespace; returns an exit code.
    """

    name: str
    help: str
    configure: Callable[[Any], None]
    run: Callable[[Any], int]
    family = "command"


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    cls.family: cls
    for cls in (RegularizerSpec, EmbeddingCompressorSpec, RetrievalEncoderSpec, RetrievalIndexSpec, DatasetSpec)
}
