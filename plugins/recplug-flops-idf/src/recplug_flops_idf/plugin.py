"""Hook implementations of recplug-flops-idf (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations

from recplug.hookspecs import hookimpl
from recplug.protocols import IndexCapabilities
from recplug.records import RegularizerSpec, RetrievalEncoderSpec, RetrievalIndexSpec, lazy_factory


@hookimpl
def recplug_retrieval_encoders() -> list[RetrievalEncoderSpec]:
    return [
        RetrievalEncoderSpec(
            "inference-free-sparse",
            factory=lazy_factory("recplug_flops_idf.encoder:InferenceFreeSparseEncoder"),
            description="inference-free learned sparse: IDF term-set queries, MiniLM + tied MLM head documents",
            output="sparse",
            index="sparse-inverted",
            fits_on_documents=True,  # IDF of the corpus it encodes; the encoder caches its model pass itself
            needs_model=True,
            inference_free_queries=True,  # queries: tokenizer + IDF lookup, no model
        )
    ]


@hookimpl
def recplug_retrieval_indexes() -> list[RetrievalIndexSpec]:
    return [
        RetrievalIndexSpec(
            "sparse-inverted",
            factory=lazy_factory("recplug_flops_idf.index:InvertedIndex"),
            description="exact inverted index over vocabulary-sized sparse vectors, IDF folded into postings",
            capabilities=IndexCapabilities(exact=True, supports_removal=True, supports_save=True, input="sparse"),
        )
    ]


@hookimpl
def recplug_regularizers() -> list[RegularizerSpec]:
    return [
        RegularizerSpec(
            "flops",
            factory=lazy_factory("recplug_flops_idf.regularizers:FlopsRegularizer"),
            description="FLOPS (Paria et al. 2020) on sparse document term weights, binary-query matching",
        ),
        RegularizerSpec(
            "flops-idf",
            factory=lazy_factory("recplug_flops_idf.regularizers:IdfAwareFlopsRegularizer"),
            description="IDF-aware FLOPS (Geng et al. 2024) on sparse document term weights: uniform penalty, "
            "IDF-weighted query matching",
        ),
    ]


@hookimpl
def recplug_demo_steps():
    from recplug_flops_idf.demo import demo_steps

    return demo_steps()


@hookimpl
def recplug_commands():
    from recplug_flops_idf.cli import command_specs

    return command_specs()
