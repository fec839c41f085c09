"""recplug core: hook specifications, plugin manager, records, protocols, errors.

Importing this package imports neither torch nor faiss.
"""

from recplug.errors import (
    ConfigError,
    CorruptFileError,
    DuplicateComponentError,
    IncompatibleFileError,
    InvalidInputError,
    PluginLoadError,
    RecplugError,
    UnknownComponentError,
)
from recplug.hookspecs import hookimpl, hookspec
from recplug.manager import RecplugPluginManager, load_plugin_manager
from recplug.protocols import CompressorCapabilities, IndexCapabilities
from recplug.records import (
    CommandSpec,
    ComponentSpec,
    DatasetSpec,
    DemoContext,
    DemoSection,
    DemoStep,
    EmbeddingCompressorSpec,
    LazyFactory,
    RegularizerSpec,
    RetrievalEncoderSpec,
    RetrievalIndexSpec,
    lazy_factory,
)

__version__ = "0.1.0"

__all__ = [
    "CommandSpec",
    "ComponentSpec",
    "CompressorCapabilities",
    "ConfigError",
    "CorruptFileError",
    "DatasetSpec",
    "DemoContext",
    "DemoSection",
    "DemoStep",
    "DuplicateComponentError",
    "EmbeddingCompressorSpec",
    "IncompatibleFileError",
    "IndexCapabilities",
    "InvalidInputError",
    "LazyFactory",
    "PluginLoadError",
    "RecplugError",
    "RecplugPluginManager",
    "RegularizerSpec",
    "RetrievalEncoderSpec",
    "RetrievalIndexSpec",
    "UnknownComponentError",
    "hookimpl",
    "hookspec",
    "lazy_factory",
    "load_plugin_manager",
]
