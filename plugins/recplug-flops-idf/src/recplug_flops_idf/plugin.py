"""Hook implementations of recplug-flops-idf (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations

from typing import Any

from recplug.hookspecs import hookimpl
from recplug.records import RegularizerSpec, RetrievalEncoderSpec, RetrievalIndexSpec


def _encoder(**config: Any) -> Any:
    from recplug_flops_idf.encoder import InferenceFreeSparseEncoder

    return InferenceFreeSparseEncoder(**config)


def _index(**config: Any) -> Any:
    from recplug_flops_idf.index import InvertedIndex

    return InvertedIndex(**config)


def _flops(**config: Any) -> Any:
    from recplug_flops_idf.regularizers import FlopsRegularizer

    return FlopsRegularizer(**config)


def _flops_idf(**config: Any) -> Any:
    from recplug_flops_idf.regularizers import IdfAwareFlopsRegularizer

    return IdfAwareFlopsRegularizer(**config)


@hookimpl
def recplug_retrieval_encoders() -> list[RetrievalEncoderSpec]:
    return [
        RetrievalEncoderSpec(
            "inference-free-sparse",
            factory=_encoder,
            description="inference-free learned sparse: IDF term-set queries, MiniLM + tied MLM head documents",
            capabilities={"sparse", "inference_free_queries", "index:sparse-inverted", "fits_idf_on_documents"},
        )
    ]


@hookimpl
def recplug_retrieval_indexes() -> list[RetrievalIndexSpec]:
    return [
        RetrievalIndexSpec(
            "sparse-inverted",
            factory=_index,
            description="exact inverted index over vocabulary-sized sparse vectors, IDF folded into postings",
            capabilities={"exact", "save", "sparse"},
        )
    ]


@hookimpl
def recplug_regularizers() -> list[RegularizerSpec]:
    return [
        RegularizerSpec(
            "flops",
            factory=_flops,
            description="FLOPS (Paria et al. 2020) on document term weights, binary-query matching",
            capabilities={"sparse", "query_weighting:binary"},
        ),
        RegularizerSpec(
            "flops-idf",
            factory=_flops_idf,
            description="IDF-aware FLOPS (Geng et al. 2024): uniform penalty, IDF-weighted query matching",
            capabilities={"sparse", "query_weighting:idf"},
        ),
    ]
