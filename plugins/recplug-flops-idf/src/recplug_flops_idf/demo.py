"""The FLOPS-IDF step of ``recplug demo`` (the ``recplug_demo_steps`` hook).

Its systems join the demo's shared table (full SciFact test: 5,183 documents, 300 queries, beside the BM25
baseline): the IDF-aware student whose head ships with the plugin (:mod:`recplug_flops_idf.shipped`, trained by
``recplug flops-idf-train``) and, when its head ships too, the plain-FLOPS student trained by the same command with
``--regularizer flops``, both at one matched sparsity (the smaller of the two heads' terms per document on the
corpus they were trained on, as ``heads.json`` records it: the denser one is pruned to it, see
:mod:`recplug_flops_idf.pruning`). When no head ships: MiniLM's untrained tied head with the lexical channel at the
students' weight (1.0), labelled as untrained.
"""

from __future__ import annotations

import math
from typing import Any

LEXICAL_WEIGHT = 1.0  # the lexical channel's weight in tools/bench/flops_idf (chosen on held-out train queries)
SHIPPED = "scifact-flops-idf"  # the IDF-aware student trained on SciFact's train split
PLAIN = "scifact-flops"  # the plain-FLOPS student: the same command and settings, --regularizer flops
STUDENT_NAME = "sparse: IDF-aware student (shipped head)"
PLAIN_NAME = "sparse: plain FLOPS student (shipped head)"  # binary queries, as it was trained
PLAIN_IDF_NAME = "sparse: plain FLOPS student, IDF queries at search"
UNTRAINED_NAME = "sparse: UNTRAINED head + lexical channel"
RETRAIN = "recplug flops-idf-train --out out/flops-idf-student"
RETRAIN_PLAIN = "recplug flops-idf-train --regularizer flops --out out/flops-student"
BENCHMARK = "tools/bench/flops_idf/results.md (python -m tools.bench.flops_idf.quick for a smoke run)"


def shipped_available() -> bool:
    from recplug_flops_idf.shipped import manifest

    return SHIPPED in manifest()


def matched_terms(heads: dict[str, Any]) -> float | None:
    """The matched sparsity: the smaller of the two students' recorded terms per document (``None`` unless both
    ship with that record)."""
    recorded = [heads.get(name, {}).get("terms_per_document") for name in (SHIPPED, PLAIN)]
    return None if None in recorded else float(min(recorded))


def demo_systems() -> list[Any]:
    """The IDF-aware student and the plain-FLOPS student on the shipped heads at matched sparsity (the student
    alone when only its head ships), else the untrained head (labelled so)."""
    from recplug_eval import SystemConfig

    from recplug_flops_idf.shipped import manifest

    heads = manifest()
    if SHIPPED not in heads:
        return [SystemConfig(name=UNTRAINED_NAME, encoder="inference-free-sparse",
                             encoder_config={"lexical_weight": LEXICAL_WEIGHT})]
    target = matched_terms(heads)
    matched = {} if target is None else {"mean_terms": target}  # a no-op for the sparser head (see pruning)
    # terms="head": each head scores the terms it was trained on, SciFact's own, as the benchmark's students do
    # (the demo's corpus is the one they were trained on, so no document term is left out; half the head's cost)
    systems = [SystemConfig(name=STUDENT_NAME, encoder="inference-free-sparse",
                            encoder_config={"shipped_head": SHIPPED, "terms": "head", **matched})]
    if target is not None:  # one document encoding (cached) for both query sides
        plain = {"shipped_head": PLAIN, "terms": "head", **matched}
        systems += [SystemConfig(name=PLAIN_NAME, encoder="inference-free-sparse",
                                 encoder_config={**plain, "query_weighting": "binary"}),
                    SystemConfig(name=PLAIN_IDF_NAME, encoder="inference-free-sparse", encoder_config=plain)]
    return systems


def shared_note() -> str:
    """How the systems' documents went through MiniLM, when their first windows came from the shared pass."""
    from recplug_flops_idf.encoder import InferenceFreeSparseEncoder

    config = demo_systems()[0].encoder_config
    encoder = InferenceFreeSparseEncoder(**config)
    if not encoder.shares_first_window():
        return ""
    return (f" (each document's first {encoder.max_length}-token window came from the MiniLM pass the dense and MUVERA "
            "systems share, and the later windows' states from a cache the first head filled: the backbone ran once, "
            "over the later windows, and each head then over every position)")


def _pair(result: Any, measure: str) -> str:
    return f"{result.metrics.get(measure, math.nan):.4f}"


def demo_section(context: Any) -> Any:
    """What ran, its metrics beside BM25 (and the plain-FLOPS student) in this run, and what encoding cost."""
    from recplug.records import DemoSection

    report = context.report
    found = {s.name: s for s in report.systems} if report is not None else {}
    name = STUDENT_NAME if shipped_available() else UNTRAINED_NAME
    ours, bm25 = found.get(name), found.get("bm25")
    plain, plain_idf = found.get(PLAIN_NAME), found.get(PLAIN_IDF_NAME)
    if ours is None:
        return DemoSection("The inference-free sparse system did not run (see the skipped steps).",
                           commands=[RETRAIN])
    ndcg, recall = ours.metrics.get("nDCG@10", math.nan), ours.metrics.get("R@100", math.nan)
    encode_s = ours.timings.get("encode_documents_s", math.nan)
    terms = ours.config.get("terms_per_document", math.nan)
    lines = [
        f"`{name}`: queries are their WordPiece terms weighted by the corpus IDF (no model at query time); documents "
        "get MiniLM + masked-LM-head term weights plus the lexical channel (BM25's document-side weight)"
        + (", over the terms the head was trained on (SciFact's own: the benchmark's setting)." if name == STUDENT_NAME
           else "."),
        "",
        f"In this run: nDCG@10 **{ndcg:.4f}**, R@100 {recall:.4f}, {terms:.1f} terms per document"
        + (f" (BM25 {_pair(bm25, 'nDCG@10')} / {_pair(bm25, 'R@100')})" if bm25 is not None else "")
        + f"; document encoding {encode_s:.0f} s for {ours.num_documents:,} documents"
        + (" (model pass read from the cache)" if ours.timings.get("documents_from_cache") else shared_note())
        + ".",
    ]
    results: dict[str, Any] = {"system": name, "nDCG@10": ndcg, "R@100": recall, "terms_per_document": terms,
                               "encode_documents_s": encode_s, "trained": name == STUDENT_NAME}
    caveats = []
    if plain is not None:
        plain_terms = plain.config.get("terms_per_document", math.nan)
        lines += [
            "",
            f"`{PLAIN_NAME}`: the same student, command and settings trained with plain FLOPS instead of the "
            f"IDF-aware FLOPS (`{RETRAIN_PLAIN}`), so with binary queries, as it was trained: nDCG@10 "
            f"**{_pair(plain, 'nDCG@10')}**, R@100 {_pair(plain, 'R@100')}, {plain_terms:.1f} terms per document; "
            f"document encoding {plain.timings.get('encode_documents_s', math.nan):.0f} s"
            + (f". Searched with the student's IDF queries instead (`{PLAIN_IDF_NAME}`, the same documents): nDCG@10 "
               f"**{_pair(plain_idf, 'nDCG@10')}**, R@100 {_pair(plain_idf, 'R@100')}" if plain_idf is not None else "")
            + ". Matched sparsity: all are pruned to at most "
            f"{ours.config.get('encoder_config', {}).get('mean_terms', math.nan):.1f} terms per document on average "
            "(one weight threshold per corpus; the sparser head keeps all of its own).",
        ]
        results["plain_flops"] = [{"system": r.name, "nDCG@10": r.metrics.get("nDCG@10", math.nan),
                                   "R@100": r.metrics.get("R@100", math.nan),
                                   "query_weighting": r.config.get("encoder_config", {}).get("query_weighting"),
                                   "terms_per_document": r.config.get("terms_per_document", math.nan),
                                   "encode_documents_s": r.timings.get("encode_documents_s", math.nan)}
                                  for r in (plain, plain_idf) if r is not None]
        caveats.append("One training run per regularizer and no seed spread measured for the heads: a small "
                       "nDCG@10 difference between the two students says nothing about the regularizers (in the "
                       "benchmark the IDF-aware student beat plain FLOPS with binary queries by 0.044 and tied it with "
                       "IDF queries at search, 0.694 vs 0.695); see " + BENCHMARK)
        if abs(plain_terms - terms) > 0.01 * max(terms, plain_terms):
            caveats.append(f"The two students' sparsities differ by more than 1% in this run ({terms:.1f} vs "
                           f"{plain_terms:.1f} terms per document): heads.json's record was measured elsewhere.")
    elif name == STUDENT_NAME:
        caveats.append("Plain FLOPS at matched sparsity is not in this table (its head does not ship with this "
                       f"install; train it with `{RETRAIN_PLAIN}`); see " + BENCHMARK)
    if name == UNTRAINED_NAME:
        caveats.insert(0, "No trained head ships with this install: the system is the UNTRAINED tied head with the "
                          f"lexical channel. Train one with `{RETRAIN}`.")
    else:
        caveats.insert(0, "The shipped heads were trained on SciFact's train split (disjoint from the test queries) "
                          "with the commands below; the benchmark found the lexical channel, not distillation, is what "
                          "lifts the student above BM25.")
    return DemoSection("\n".join(lines), results=results, caveats=caveats,
                       commands=[RETRAIN, *([RETRAIN_PLAIN] if plain is not None else [])])


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (imports nothing heavy)."""
    from recplug.records import DemoStep

    return [
        DemoStep(name="flops-idf", title="recplug-flops-idf: inference-free learned sparse retrieval",
                 systems=demo_systems, run=demo_section, order=30)
    ]
