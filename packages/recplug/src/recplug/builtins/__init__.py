"""The core's own components, registered through the same hooks as third-party plugins."""

from __future__ import annotations

from recplug.hookspecs import hookimpl
from recplug.protocols import CompressorCapabilities, IndexCapabilities
from recplug.records import CommandSpec, EmbeddingCompressorSpec, RegularizerSpec, RetrievalIndexSpec, lazy_factory


@hookimpl
def recplug_retrieval_indexes() -> list[RetrievalIndexSpec]:
    return [
        RetrievalIndexSpec(
            "exact",
            factory=lazy_factory("recplug.builtins.exact_index:ExactIndex"),
            description="brute-force NumPy top-k (inner product, cosine or L2); the reference for other indexes",
            capabilities=IndexCapabilities(exact=True, supports_removal=True, supports_save=True),
        )
    ]


@hookimpl
def recplug_embedding_compressors() -> list[EmbeddingCompressorSpec]:
    return [
        EmbeddingCompressorSpec(
            "dense",
            factory=lazy_factory("recplug.builtins.dense_tables:DenseTables"),
            description="plain float32 torchrec EmbeddingBagCollection tables (no compression)",
            capabilities=CompressorCapabilities(export=True, fused=True, sharded=True),
        )
    ]


@hookimpl
def recplug_regularizers() -> list[RegularizerSpec]:
    return [
        RegularizerSpec(
            "embedding-norm",
            factory=lazy_factory("recplug.builtins.norm_regularizer:EmbeddingNormPenalty"),
            description="mean squared L2 norm of output embeddings",
        )
    ]


@hookimpl
def recplug_commands() -> list[CommandSpec]:
    from recplug.cli.plugins_command import configure, run

    return [CommandSpec("plugins", "list installed plugins, their distributions and components", configure, run)]
