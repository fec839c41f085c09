"""The ``"muvera"`` encoder: FDEs of all-MiniLM-L6-v2 token embeddings (dense, float32).

Queries are encoded with ``DEFAULT_SUM``; documents with ``AVERAGE`` and ``fill_empty_partitions``, from the
same seed, so ``<query FDE, document FDE>`` approximates Chamfer(query tokens, document tokens).
``config()`` holds the full FDE config, so an index built with other FDE settings refuses the queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from recplug.errors import ConfigError

from recplug_muvera.config import SETUP_FIELDS, document_config
from recplug_muvera.fde import paired_encoders
from recplug_muvera.token_encoder import TokenEncoderConfig


class MuveraEncoder:
    """A :class:`recplug.protocols.RetrievalEncoder` with ``output="dense"``, ``dimension`` = FDE length.

    Args:
        tokens: an encoder returning :class:`recplug.multivector.MultiVectorBatch` (default: a new
            :class:`recplug_muvera.token_encoder.TokenEmbeddingEncoder`).
        **config: FDE fields of :func:`recplug_muvera.config.document_config` (``num_repetitions``,
            ``num_simhash_projections``, ``projection_dimension``, ``final_projection_dimension``, ``seed``,
            ``random_source``, ``fill_empty_partitions``); the rest go to the default token encoder
            (``cache_dir``, ``batch_size``, ``max_seq_length``...).
    """

    name = "muvera"
    #: FDE setup fields, ``tokens``, and the token encoder's options (used when ``tokens`` is None)
    recplug_options = frozenset({"tokens", *SETUP_FIELDS, *TokenEncoderConfig.__dataclass_fields__})
    output = "dense"

    def __init__(self, tokens: Any = None, **config: Any) -> None:
        fde = {key: config.pop(key) for key in SETUP_FIELDS if key in config}
        if tokens is None:
            from recplug_muvera.token_encoder import TokenEmbeddingEncoder

            tokens = TokenEmbeddingEncoder(**config)
        elif config:
            raise ConfigError(f"encoder {self.name!r}: unknown settings {sorted(config)}")
        self.tokens = tokens
        self.fde_config = document_config(int(tokens.dimension), **fde)
        self._documents, self._queries = paired_encoders(self.fde_config)
        self.dimension = self.fde_config.output_dimension

    def config(self) -> dict[str, Any]:
        """Token encoder config + document FDE config (queries use its ``DEFAULT_SUM`` twin)."""
        return {"encoder": self.name, "tokens": self.tokens.config(), "fde": self.fde_config.to_dict()}

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``Q`` texts -> ``Q x dimension`` float32 query FDEs."""
        return self._queries(self.tokens.encode_queries(texts))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """``N`` texts -> ``N x dimension`` float32 document FDEs."""
        return self._documents(self.tokens.encode_documents(texts))
