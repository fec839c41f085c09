"""Measuring approximate indexes against exact search: clustered synthetic vectors and neighbour recall.

Uniform random vectors in many dimensions have almost equidistant neighbours, which makes every ANN
index look bad; real embeddings are clustered. :func:`gaussian_mixture` draws such data reproducibly.
"""

from __future__ import annotations

import numpy as np
from recplug.errors import InvalidInputError


def gaussian_mixture(
    n: int,
    dimension: int,
    *,
    clusters: int = 1000,
    spread: float = 0.35,
    rank: int | None = None,
    noise: float = 0.0,
    seed: int = 0,
    chunk: int = 262_144,
) -> np.ndarray:
    """``n x D`` float32 vectors from a mixture of ``clusters`` Gaussians with standard-normal centres.

    With ``rank=None`` each cluster is isotropic with per-coordinate standard deviation ``spread``. With
    ``rank=r`` each cluster spreads along its own random ``r``-dimensional subspace (covariance
    ``spread**2 * B_c^T B_c``, ``B_c`` an ``r x D`` matrix of N(0, 1/r) entries, so the per-coordinate
    variance is still about ``spread**2``), plus isotropic ``noise``: like real embeddings, the data then
    has a low intrinsic dimension. The same ``seed`` gives the same rows; cluster sizes are uniform at random.
    """
    if n < 0 or dimension <= 0 or clusters <= 0 or spread < 0 or noise < 0 or (rank is not None and rank <= 0):
        raise InvalidInputError(
            f"gaussian_mixture: bad sizes n={n}, dimension={dimension}, clusters={clusters}, rank={rank}"
        )
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dimension), dtype=np.float32)
    out = np.empty((n, dimension), np.float32)
    if rank is None:
        for start in range(0, n, chunk):
            end = min(n, start + chunk)
            labels = rng.integers(0, clusters, end - start)
            out[start:end] = centres[labels] + spread * rng.standard_normal((end - start, dimension), dtype=np.float32)
        return out
    bases = rng.standard_normal((clusters, rank, dimension), dtype=np.float32) / np.float32(np.sqrt(rank))
    labels = rng.integers(0, clusters, n)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(clusters + 1))
    for c in range(clusters):
        rows = order[bounds[c] : bounds[c + 1]]
        z = rng.standard_normal((rows.shape[0], rank), dtype=np.float32)
        out[rows] = centres[c] + spread * (z @ bases[c])
    if noise:
        for start in range(0, n, chunk):
            end = min(n, start + chunk)
            out[start:end] += noise * rng.standard_normal((end - start, dimension), dtype=np.float32)
    return out


def neighbour_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean over queries of ``|found_q ∩ exact_q| / k`` for ``Q x k`` id arrays (R@k of an ANN index
    against exact search; empty slots ``-1``/``""`` never count as found)."""
    if found.shape != exact.shape or found.ndim != 2:
        raise InvalidInputError(f"neighbour_recall: shapes {found.shape} and {exact.shape} differ or are not Q x k")
    k = exact.shape[1]
    empty = "" if exact.dtype.kind in "UO" else -1
    hits = [len((set(f.tolist()) & set(e.tolist())) - {empty}) for f, e in zip(found, exact, strict=True)]
    return float(np.mean(hits) / k) if hits else 0.0
