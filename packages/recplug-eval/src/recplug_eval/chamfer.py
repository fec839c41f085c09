"""Exact Chamfer (MaxSim) scores of a multi-vector query against multi-vector documents.

Used by the rerank stage of :mod:`recplug_eval.retrievers` and, through ``from recplug_eval import
chamfer_scores``, by recplug-muvera's exact rerank. The input type, :class:`recplug.multivector.MultiVectorBatch`,
stays in the core: it is what a ``"multivector"`` retrieval encoder returns.
"""

from __future__ import annotations

import numpy as np

#: Document vectors multiplied per block in :func:`chamfer_scores` (bounds the ``T_block x L`` matrix).
BLOCK_VECTORS = 262144


def chamfer_scores(query: np.ndarray, values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Exact Chamfer (MaxSim) scores ``sum_{q in Q} max_{p in P} <q, p>`` of one ``L x D`` query against the
    ``n`` non-empty sets in ``values`` (``T x D``; float16 is converted block by block) delimited by
    ``offsets`` (``n + 1``): float32 ``(n,)``. One GEMM per block of at most :data:`BLOCK_VECTORS` vectors.

    Example::

        >>> from recplug.multivector import MultiVectorBatch
        >>> docs = MultiVectorBatch.from_sets([np.eye(2), np.ones((1, 2))])
        >>> chamfer_scores(np.eye(2), docs.values, docs.offsets).tolist()
        [2.0, 2.0]
    """
    query = np.asarray(query, np.float32)
    n = offsets.shape[0] - 1
    scores = np.empty(n, np.float32)
    start = 0
    while start < n:
        stop = int(np.searchsorted(offsets, offsets[start] + BLOCK_VECTORS, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        lo, hi = int(offsets[start]), int(offsets[stop])
        sims = np.asarray(values[lo:hi], np.float32) @ query.T  # T_block x L
        best = np.maximum.reduceat(sims, offsets[start:stop] - lo, axis=0)  # n_block x L
        scores[start:stop] = best.sum(axis=1)
        start = stop
    return scores
