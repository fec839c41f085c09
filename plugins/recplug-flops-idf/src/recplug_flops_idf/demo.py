"""The FLOPS-IDF step of ``recplug demo`` (the ``recplug_demo_steps`` hook).

Its system joins the demo's shared table (full SciFact test: 5,183 documents, 300 queries, beside the BM25
baseline): the IDF-aware student whose head ships with the plugin (:mod:`recplug_flops_idf.shipped`, trained
by ``recplug flops-idf-train``), or, when no head ships, MiniLM's untrained tied head with the lexical channel at
the students' weight (1.0), labelled as untrained. No plain-FLOPS head ships, so plain FLOPS at matched
sparsity is not in the table: ``tools/bench/flops_idf/results.md`` has that comparison.
"""

from __future__ import annotations

from typing import Any

LEXICAL_WEIGHT = 1.0  # the lexical channel's weight in tools/bench/flops_idf (chosen on held-out train queries)
SHIPPED = "scifact-flops-idf"  # the IDF-aware student trained on SciFact's train split
STUDENT_NAME = "sparse: IDF-aware student (shipped head)"
UNTRAINED_NAME = "sparse: UNTRAINED head + lexical channel"
RETRAIN = "recplug flops-idf-train --out out/flops-idf-student"
BENCHMARK = "tools/bench/flops_idf/results.md (python -m tools.bench.flops_idf.quick for a smoke run)"


def shipped_available() -> bool:
    from recplug_flops_idf.shipped import manifest

    return SHIPPED in manifest()


def demo_systems() -> list[Any]:
    """The student on the shipped head, else the untrained head (labelled so)."""
    from recplug_eval import SystemConfig

    if shipped_available():
        # terms="head": the head scores the terms it was trained on, SciFact's own, as the benchmark's students do
        # (the demo's corpus is the one it was trained on, so no document term is left out; half the head's cost)
        return [SystemConfig(name=STUDENT_NAME, encoder="inference-free-sparse",
                             encoder_config={"shipped_head": SHIPPED, "terms": "head"})]
    return [SystemConfig(name=UNTRAINED_NAME, encoder="inference-free-sparse",
                         encoder_config={"lexical_weight": LEXICAL_WEIGHT})]


def shared_note() -> str:
    """How the system's documents went through MiniLM, when their first windows came from the shared pass."""
    from recplug_flops_idf.encoder import InferenceFreeSparseEncoder

    config = demo_systems()[0].encoder_config
    encoder = InferenceFreeSparseEncoder(**config)
    if not encoder.shares_first_window():
        return ""
    return (f" (each document's first {encoder.max_length}-token window came from the MiniLM pass the dense and MUVERA "
            "systems share; the backbone ran again only over later windows, then the head over every position)")


def demo_section(context: Any) -> Any:
    """What ran, its metrics beside BM25 in this run, and what the document encoding cost."""
    from recplug.records import DemoSection

    report = context.report
    found = {s.name: s for s in report.systems} if report is not None else {}
    name = STUDENT_NAME if shipped_available() else UNTRAINED_NAME
    ours, bm25 = found.get(name), found.get("bm25")
    if ours is None:
        return DemoSection("The inference-free sparse system did not run (see the skipped steps).",
                           commands=[RETRAIN])
    ndcg, recall = ours.metrics.get("nDCG@10", float("nan")), ours.metrics.get("R@100", float("nan"))
    encode_s = ours.timings.get("encode_documents_s", float("nan"))
    lines = [
        f"`{name}`: queries are their WordPiece terms weighted by the corpus IDF (no model at query time); documents "
        "get MiniLM + masked-LM-head term weights plus the lexical channel (BM25's document-side weight)"
        + (", over the terms the head was trained on (SciFact's own: the benchmark's setting)." if name == STUDENT_NAME
           else "."),
        "",
        f"In this run: nDCG@10 **{ndcg:.4f}**, R@100 {recall:.4f}"
        + (f" (BM25 {bm25.metrics.get('nDCG@10', float('nan')):.4f} / {bm25.metrics.get('R@100', float('nan')):.4f})"
           if bm25 is not None else "")
        + f"; document encoding {encode_s:.0f} s for {ours.num_documents:,} documents"
        + (" (model pass read from the cache)" if ours.timings.get("documents_from_cache") else shared_note())
        + ".",
    ]
    caveats = ["Plain FLOPS at matched sparsity is not in this table (no plain-FLOPS head ships); see " + BENCHMARK]
    if name == UNTRAINED_NAME:
        caveats.insert(0, "No trained head ships with this install: the system is the UNTRAINED tied head with the "
                          f"lexical channel. Train one with `{RETRAIN}`.")
    else:
        caveats.insert(0, "The shipped head was trained on SciFact's train split (disjoint from the test queries) "
                          "with the command below; the benchmark found the lexical channel, not distillation, is what "
                          "lifts the student above BM25.")
    results = {"system": name, "nDCG@10": ndcg, "R@100": recall, "encode_documents_s": encode_s,
               "trained": name == STUDENT_NAME}
    return DemoSection("\n".join(lines), results=results, caveats=caveats, commands=[RETRAIN])


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (imports nothing heavy)."""
    from recplug.records import DemoStep

    return [
        DemoStep(name="flops-idf", title="recplug-flops-idf: inference-free learned sparse retrieval",
                 systems=demo_systems, run=demo_section, order=30)
    ]
