"""Hook implementations of recplug-muvera (loaded through the entry point; imports nothing heavy).

Components:
* encoder ``"muvera"``: dense FDEs of MiniLM token embeddings (pairs with any dense index);
* encoder ``"minilm-tokens"``: the token embeddings themselves (multi-vector; pairs with ``"muvera-chamfer"``);
* index ``"muvera-chamfer"``: FDE candidates from FAISS, reranked by exact Chamfer.
"""

from __future__ import annotations

from typing import Any

from recplug.hookspecs import hookimpl
from recplug.records import RetrievalEncoderSpec, RetrievalIndexSpec


def _muvera_encoder(**config: Any) -> Any:
    from recplug_muvera.encoder import MuveraEncoder

    return MuveraEncoder(**config)


def _token_encoder(**config: Any) -> Any:
    from recplug_muvera.token_encoder import TokenEmbeddingEncoder

    return TokenEmbeddingEncoder(**config)


def _chamfer_index(**config: Any) -> Any:
    from recplug_muvera.index import MuveraChamferIndex

    return MuveraChamferIndex(**config)


@hookimpl
def recplug_retrieval_encoders() -> list[RetrievalEncoderSpec]:
    return [
        RetrievalEncoderSpec(
            "muvera",
            factory=_muvera_encoder,
            description="MUVERA fixed dimensional encodings of all-MiniLM-L6-v2 token embeddings (dense)",
            capabilities={"dense", "needs_model"},
        ),
        RetrievalEncoderSpec(
            "minilm-tokens",
            factory=_token_encoder,
            description="all-MiniLM-L6-v2 per-token embeddings, L2-normalised, float16 (multi-vector)",
            capabilities={"multivector", "needs_model", "index:muvera-chamfer"},
        ),
    ]


@hookimpl
def recplug_retrieval_indexes() -> list[RetrievalIndexSpec]:
    return [
        RetrievalIndexSpec(
            "muvera-chamfer",
            factory=_chamfer_index,
            description="MUVERA: FDE candidates from FAISS (flat/HNSW/IVF/PQ), exact Chamfer rerank",
            capabilities={"save", "multivector"},
        )
    ]
