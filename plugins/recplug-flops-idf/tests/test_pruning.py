"""Matched sparsity: one corpus-wide weight threshold for a target mean of terms per document."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from recplug.errors import ConfigError
from recplug_flops_idf.pruning import mean_terms_threshold, prune_to_mean_terms


def test_pruning_keeps_the_largest_weights_of_the_corpus_to_the_target_mean():
    rng = np.random.default_rng(0)
    docs = sp.random(50, 400, density=0.2, format="csr", random_state=rng, dtype=np.float32)  # 80 terms each
    pruned = prune_to_mean_terms(docs, 30)
    assert pruned.nnz / 50 == pytest.approx(30, abs=0.05)
    kept = pruned.toarray() > 0
    dense = docs.toarray()
    assert dense[kept].min() >= dense[~kept & (dense > 0)].max()
    np.testing.assert_array_equal(pruned.toarray()[kept], dense[kept])
    lengths = np.diff(pruned.indptr)
    assert lengths.min() < 30 < lengths.max()  # one threshold for all documents, not a per-document top-k
    assert docs.nnz == 50 * 80 and mean_terms_threshold(docs, 80) == 0.0  # no pruning at or above the native mean
    assert prune_to_mean_terms(docs, 100).nnz == docs.nnz


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_a_target_that_is_not_positive_is_an_error(bad):
    with pytest.raises(ConfigError, match="mean_terms must be positive"):
        mean_terms_threshold(sp.csr_matrix(np.eye(3, dtype=np.float32)), bad)
