"""Hook implementations of recplug-muvera (loaded through the entry point; imports nothing heavy).

Components:
* encoder ``"muvera"``: dense FDEs of MiniLM token embeddings (pairs with any dense index);
* encoder ``"minilm-tokens"``: the token embeddings themselves (multi-vector; pairs with ``"muvera-chamfer"``);
* index ``"muvera-chamfer"``: FDE candidates from FAISS, reranked by exact Chamfer;
* index ``"chamfer-exact"``: brute-force Chamfer against every document (the reference for the others).
"""

from __future__ import annotations

from recplug.hookspecs import hookimpl
from recplug.protocols import IndexCapabilities
from recplug.records import RetrievalEncoderSpec, RetrievalIndexSpec, lazy_factory


@hookimpl
def recplug_retrieval_encoders() -> list[RetrievalEncoderSpec]:
    return [
        RetrievalEncoderSpec(
            "muvera",
            factory=lazy_factory("recplug_muvera.encoder:MuveraEncoder"),
            description="MUVERA fixed dimensional encodings of all-MiniLM-L6-v2 token embeddings (dense)",
            output="dense",
            needs_model=True,
        ),
        RetrievalEncoderSpec(
            "minilm-tokens",
            factory=lazy_factory("recplug_muvera.token_encoder:TokenEmbeddingEncoder"),
            description="all-MiniLM-L6-v2 per-token embeddings, L2-normalised, float16 (multi-vector)",
            output="multivector",
            index="muvera-chamfer",
            needs_model=True,
        ),
    ]


@hookimpl
def recplug_retrieval_indexes() -> list[RetrievalIndexSpec]:
    return [
        RetrievalIndexSpec(
            "muvera-chamfer",
            factory=lazy_factory("recplug_muvera.index:MuveraChamferIndex"),
            description="MUVERA: FDE candidates from FAISS (flat/HNSW/IVF/PQ), exact Chamfer rerank",
            capabilities=IndexCapabilities(exact=False, supports_removal=False, supports_save=True, input="multivector"),
        ),
        RetrievalIndexSpec(
            "chamfer-exact",
            factory=lazy_factory("recplug_muvera.exact:ChamferExactIndex"),
            description="exact multi-vector search: brute-force Chamfer (MaxSim) against every document",
            capabilities=IndexCapabilities(exact=True, supports_removal=False, supports_save=True, input="multivector"),
        ),
    ]


@hookimpl
def recplug_demo_steps():
    from recplug_muvera.demo import demo_steps

    return demo_steps()
