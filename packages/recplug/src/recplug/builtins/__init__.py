"""The core's own components, registered through the same hooks as third-party plugins."""

from __future__ import annotations

from recplug.hookspecs import hookimpl
from recplug.records import CommandSpec, EmbeddingCompressorSpec, RegularizerSpec, RetrievalIndexSpec


def _exact_index(**config):
    from recplug.builtins.exact_index import ExactIndex

    return ExactIndex(**config)


def _dense_tables(**config):
    from recplug.builtins.dense_tables import DenseTables

    return DenseTables(**config)


def _embedding_norm(**config):
    from recplug.builtins.norm_regularizer import EmbeddingNormPenalty

    return EmbeddingNormPenalty(**config)


@hookimpl
def recplug_retrieval_indexes() -> list[RetrievalIndexSpec]:
    return [
        RetrievalIndexSpec(
            "exact",
            factory=_exact_index,
            description="brute-force NumPy top-k (inner product, cosine or L2); the reference for other indexes",
            capabilities={"exact", "save", "removal"},
        )
    ]


@hookimpl
def recplug_embedding_compressors() -> list[EmbeddingCompressorSpec]:
    return [
        EmbeddingCompressorSpec(
            "dense",
            factory=_dense_tables,
            description="plain float32 torchrec EmbeddingBagCollection tables (no compression)",
            capabilities={"export", "fused", "sharded"},
        )
    ]


@hookimpl
def recplug_regularizers() -> list[RegularizerSpec]:
    return [
        RegularizerSpec(
            "embedding-norm",
            factory=_embedding_norm,
            description="mean squared L2 norm of output embeddings",
            capabilities=set(),
        )
    ]


@hookimpl
def recplug_commands() -> list[CommandSpec]:
    from recplug.cli.plugins_command import configure, run

    return [CommandSpec("plugins", "list installed plugins, their distributions and components", configure, run)]
