"""Chamfer (MaxSim) scoring of FDE candidates and query ball carving (the exact kernel is the core's
:func:`recplug.multivector.chamfer_scores`).

``Chamfer(Q, P) = sum_{q in Q} max_{p in P} <q, p>``. Shapes: a query is ``L x D``; documents are a
:class:`recplug.multivector.MultiVectorBatch` (``T x D`` values + ``N + 1`` offsets).
"""

from __future__ import annotations

import numpy as np
from recplug.multivector import chamfer_scores


def chamfer_candidates(
    query: np.ndarray, values: np.ndarray, offsets: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """Chamfer scores of one ``L x D`` query against the sets at positions ``candidates`` (``(c,)``, all
    valid) of ``values`` / ``offsets``: float32 ``(c,)``. float32 values: one small GEMM per candidate on a
    view of its vectors (no gathered copy, which cost more than the GEMMs);
    float16 values: gathered into one block and converted block by block."""
    starts, stops = offsets[candidates].tolist(), offsets[candidates + 1].tolist()
    if values.dtype != np.float32:
        block = np.concatenate([values[a:b] for a, b in zip(starts, stops, strict=True)])
        return chamfer_scores(query, block, np.concatenate([[0], np.cumsum(np.subtract(stops, starts))]))
    query_t = np.ascontiguousarray(np.asarray(query, np.float32).T)  # D x L
    scores = np.empty(len(starts), np.float32)
    for j, (a, b) in enumerate(zip(starts, stops, strict=True)):
        scores[j] = (values[a:b] @ query_t).max(axis=0).sum()
    return scores


def ball_carve(query: np.ndarray, tau: float = 0.7) -> np.ndarray:
    """Greedy ball carving of a query's vectors (MUVERA, Section 3): take the first unassigned vector,
    group every unassigned vector whose inner product with it is at least ``tau``, and replace the group
    by its sum. Returns ``L' x D`` float32 with ``L' <= L``; Chamfer with the result approximates Chamfer
    with ``query`` (exact when each group shares its best document vector) at ``L'/L`` of the cost."""
    query = np.asarray(query, np.float32)
    sims = query @ query.T
    unassigned = np.ones(query.shape[0], bool)
    groups = []
    for i in range(query.shape[0]):  # L <= a few dozen query tokens
        if not unassigned[i]:
            continue
        members = unassigned & (sims[i] >= tau)
        members[i] = True
        groups.append(query[members].sum(axis=0))
        unassigned &= ~members
    return np.stack(groups).astype(np.float32)
