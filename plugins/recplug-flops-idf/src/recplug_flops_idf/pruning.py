"""Matched sparsity: prune a corpus's sparse document vectors to a target average number of terms.

Comparing two learned sparse encoders is fair only at the same document sparsity (postings per document set the
index's size and a query's cost). The pruning is corpus-wide, as the FLOPS-IDF benchmark does: one weight
threshold for every document, the smallest that leaves about ``mean_terms`` terms per document on average, so a
long document keeps more terms than a short one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from recplug.errors import ConfigError


def mean_terms_threshold(docs: Any, mean_terms: float) -> float:
    """The smallest weight to keep so that the ``N`` rows of ``docs`` (CSR ``N x V``, non-negative weights) keep
    about ``mean_terms`` terms on average; ``0.0`` when they already keep no more than that."""
    if not mean_terms > 0:
        raise ConfigError(f"mean_terms must be positive, got {mean_terms}")
    keep = round(float(mean_terms) * docs.shape[0])
    if keep >= docs.nnz:
        return 0.0
    return float(np.partition(docs.data, docs.nnz - keep)[docs.nnz - keep])


def prune_to_mean_terms(docs: Any, mean_terms: float) -> Any:
    """``docs`` (CSR ``N x V``) without the weights below :func:`mean_terms_threshold` (a new matrix; ties at the
    threshold are kept, so the mean may exceed ``mean_terms`` by the tied weights)."""
    import scipy.sparse as sp

    threshold = mean_terms_threshold(docs, mean_terms)
    pruned = sp.csr_matrix(docs, dtype=np.float32, copy=True)
    if threshold > 0:
        pruned.data[pruned.data < threshold] = 0
        pruned.eliminate_zeros()
    return pruned
