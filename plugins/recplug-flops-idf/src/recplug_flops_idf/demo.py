"""The FLOPS-IDF section of ``recplug demo`` (entry point group ``recplug.demo``).

On a SciFact slice (the MiniLM + MLM-head document encoder is a full transformer pass per document):
the inference-free sparse retriever (IDF-weighted query term sets, no model at query time; IDF folded
into the inverted index) against BM25 on the same documents. It uses the trained head when
``RECPLUG_FLOPS_IDF_HEAD`` points at one (see tools/bench/flops_idf), else MiniLM's tied MLM head as is
with the lexical channel at the benchmark students' weight (1.0; :mod:`recplug_flops_idf.lexical`).
"""

from __future__ import annotations

import os
from typing import Any

LEXICAL_WEIGHT = 1.0  # the lexical channel's weight in tools/bench/flops_idf (chosen on held-out train queries)


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (the ``recplug_demo_steps`` hook; imports nothing heavy)."""
    from recplug.records import DemoStep

    def run(context: Any) -> str:
        from recplug_eval import SystemConfig, evaluate_on_slice

        head = os.environ.get("RECPLUG_FLOPS_IDF_HEAD")
        encoder_config = {"head_path": head} if head else {"lexical_weight": LEXICAL_WEIGHT}
        systems = [
            SystemConfig.bm25("bm25"),
            SystemConfig(
                name="inference-free-sparse" + ("" if head else " (untrained head + lexical channel)"),
                encoder="inference-free-sparse",
                encoder_config=encoder_config,
            ),
        ]
        return evaluate_on_slice(
            context,
            "flops-idf",
            systems,
            max_docs=600,
            max_queries=100,
            title="Inference-free sparse retrieval on a SciFact slice (600 docs, 100 test queries)",
        )

    return [
        DemoStep(
            name="flops-idf", title="recplug-flops-idf: inference-free learned sparse retrieval", run=run, order=30
        )
    ]
