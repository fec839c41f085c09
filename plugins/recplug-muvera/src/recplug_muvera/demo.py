"""The MUVERA section of ``recplug demo`` (entry point group ``recplug.demo``).

On a SciFact slice (MiniLM per-token embeddings take minutes per thousand documents on 2 cores): exact
brute-force Chamfer (every document reranked) against MUVERA FDE candidates at the paper's
(R, k_sim, d_proj) = (20, 5, 16) with an exact Chamfer rerank of the top 100, and FDE scores alone.
"""

from __future__ import annotations

from typing import Any


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (the ``recplug_demo_steps`` hook; imports nothing heavy)."""
    from recplug.records import DemoStep

    paper = {"num_repetitions": 20, "num_simhash_projections": 5, "projection_dimension": 16}

    def run(context: Any) -> str:
        from recplug_eval import SystemConfig, evaluate_on_slice

        systems = [
            SystemConfig(
                name="exact-chamfer",
                encoder="minilm-tokens",
                index="muvera-chamfer",
                index_config={**paper, "candidates": 1_000_000},
            ),
            SystemConfig(
                name="muvera-fde+rerank100",
                encoder="minilm-tokens",
                index="muvera-chamfer",
                index_config={**paper, "candidates": 100},
            ),
            SystemConfig(
                name="muvera-fde-only",
                encoder="minilm-tokens",
                index="muvera-chamfer",
                index_config={**paper, "candidates": 0},
            ),
        ]
        return evaluate_on_slice(
            context,
            "muvera",
            systems,
            max_docs=600,
            max_queries=100,
            title="MUVERA on a SciFact slice (600 docs, 100 test queries)",
        )

    return [DemoStep(name="muvera", title="recplug-muvera: FDE retrieval + exact Chamfer rerank", run=run, order=20)]
