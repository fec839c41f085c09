"""The encoder + index pair as `recplug eval` builds it (component names only, index chosen for the encoder)."""

from __future__ import annotations

import numpy as np
import recplug
from recplug_eval import build_encoder_index_retriever


def test_eval_runner_builds_and_searches_with_the_plugin(scifact_docs):
    pm = recplug.load_plugin_manager()
    retriever = build_encoder_index_retriever(pm, "inference-free-sparse", {"max_length": 64})
    assert retriever.index.name == "sparse-inverted"
    docs = scifact_docs[:30]
    retriever.index_corpus([f"d{i}" for i in range(len(docs))], docs)
    result = retriever.retrieve([docs[11][:150], docs[3][:150]], k=5)
    assert result.ids[:, 0].tolist() == ["d11", "d3"]
    assert np.all(np.diff(result.scores, axis=1) <= 0)
    terms = retriever.describe()["terms_per_document"]  # the postings per document the report shows
    assert terms == retriever.index.nnz / len(docs) and terms > 10
