"""The MUVERA section of ``recplug demo`` (entry point group ``recplug.demo``).

On the full SciFact test split, in the demo's shared table: exact brute-force Chamfer (the ``"chamfer-exact"``
index) and MUVERA in the configuration its benchmark recommends for this CPU (:data:`RECOMMENDED`: the
fastest row meeting the quality targets, R@10 >= 0.95 vs exact and nDCG@10 within 0.005 of exact, in
``tools/bench/muvera/results.md`` on a CPU with native int8 GEMMs and ``tools/bench/muvera/avx2-only/results.md``
on one without), with ``R@k vs exact-chamfer`` from the same run. Both read MiniLM token embeddings from
the shared forward-pass cache, so the corpus is run through MiniLM once for them and the dense baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the exact system's name (the reference of the MUVERA system's ``R@k vs`` metrics)
EXACT_NAME = "exact-chamfer"
#: the benchmark command that measures every configuration (the demo summarises its recommendation)
BENCHMARK_COMMAND = ".venv/bin/python -m tools.bench.muvera.bench_muvera"
#: the benchmark's quality targets for MUVERA against exact Chamfer: R@10 vs exact, and the nDCG@10 gap
TARGET_RECALL, TARGET_NDCG_GAP = 0.95, 0.005


@dataclass(frozen=True)
class MuveraDemoConfig:
    """A MUVERA configuration of the benchmark, as the demo runs it.

    Attributes:
        name: the system's name in the table.
        source: the benchmark results that recommend it, and the row.
        index_config: ``"muvera-chamfer"`` index options (FDE and search settings).
    """

    name: str
    source: str
    index_config: dict[str, Any] = field(default_factory=dict)


#: The benchmark's recommended rows, by whether the CPU runs the int8 first pass natively (VNNI / AMX).
RECOMMENDED: dict[str, MuveraDemoConfig] = {
    "native-int8": MuveraDemoConfig(
        name="muvera-hnsw-int8-n150",
        source="tools/bench/muvera/results.md (Xeon, AMX/VNNI): MUVERA HNSW32,SQ8 + int8 pass, rerank N=150 at (20, 5, 32)",
        index_config={"num_repetitions": 20, "num_simhash_projections": 5, "projection_dimension": 32,
                      "faiss_factory": "HNSW32,SQ8", "ef_search": 128, "rerank_dtype": "int8", "candidates": 150},
    ),
    "avx2-only": MuveraDemoConfig(
        name="muvera-hnsw-n200",
        source="tools/bench/muvera/avx2-only/results.md (AVX2-only EPYC): MUVERA HNSW32,SQ8 + rerank N=200 at (20, 5, 32)",
        index_config={"num_repetitions": 20, "num_simhash_projections": 5, "projection_dimension": 32,
                      "faiss_factory": "HNSW32,SQ8", "ef_search": 128, "rerank_dtype": "float32", "candidates": 200},
    ),
}


def recommended() -> MuveraDemoConfig:
    """The row of :data:`RECOMMENDED` for this CPU (by :meth:`~recplug_muvera.chamfer.Int8Screen.native_on_this_cpu`)."""
    from recplug_muvera.chamfer import Int8Screen

    return RECOMMENDED["native-int8" if Int8Screen.native_on_this_cpu() else "avx2-only"]


def muvera_systems() -> list[Any]:
    """The step's systems: exact Chamfer, then MUVERA (:func:`recommended`) referenced to it."""
    from recplug_eval import SystemConfig

    chosen = recommended()
    return [
        SystemConfig(name=EXACT_NAME, encoder="minilm-tokens", index="chamfer-exact"),
        SystemConfig(name=chosen.name, encoder="minilm-tokens", index="muvera-chamfer",
                     index_config=dict(chosen.index_config), reference=EXACT_NAME),
    ]


def muvera_section(context: Any) -> Any:
    """The step's section: which configuration and why, its R@10 vs exact and its speed-up in this run."""
    from recplug.records import DemoSection

    chosen = recommended()
    report = context.report
    found = {s.name: s for s in report.systems} if report is not None else {}
    exact, muvera = found.get(EXACT_NAME), found.get(chosen.name)
    if exact is None or muvera is None:
        return DemoSection("The MUVERA systems did not run (see the skipped steps).", commands=[BENCHMARK_COMMAND])
    recall = muvera.metrics.get(f"R@10 vs {EXACT_NAME}", float("nan"))
    batch = exact.query_latency_ms / max(muvera.query_latency_ms, 1e-9)
    single_exact = exact.timings.get("single_query_p50_ms")
    single_muvera = muvera.timings.get("single_query_p50_ms")
    single = single_exact / single_muvera if single_exact and single_muvera else None
    ndcg_gap = exact.metrics.get("nDCG@10", float("nan")) - muvera.metrics.get("nDCG@10", float("nan"))
    missed = [what for what, bad in ((f"R@10 vs exact {recall:.3f} < {TARGET_RECALL}", not recall >= TARGET_RECALL),
                                     (f"nDCG@10 {ndcg_gap:.4f} below exact", not ndcg_gap <= TARGET_NDCG_GAP)) if bad]
    caveats = [
        f"muvera: `{chosen.name}` misses the benchmark's target in this run ({'; '.join(missed)}): the benchmark picked "
        "it on another machine (its CPU, and the token embeddings' precision there), so its margin need not hold "
        f"here; `{BENCHMARK_COMMAND}` measures every configuration on this one."
    ] if missed else []
    lines = [
        f"MUVERA runs as `{chosen.name}`: {chosen.source}, the fastest configuration of the benchmark that meets its "
        f"targets (R@10 >= {TARGET_RECALL} vs exact Chamfer, nDCG@10 within {TARGET_NDCG_GAP} of exact). It was picked for this CPU "
        f"({'native' if chosen is RECOMMENDED['native-int8'] else 'no native'} int8 GEMMs).",
        "",
        f"In this run: R@10 vs exact Chamfer **{recall:.3f}**; nDCG@10 {muvera.metrics.get('nDCG@10', float('nan')):.4f} "
        f"(exact {exact.metrics.get('nDCG@10', float('nan')):.4f}); speed-up over exact Chamfer "
        f"**{batch:.1f}x** per query with all queries in one batch"
        + (f", **{single:.1f}x** one query at a time (median)" if single else "")
        + f"; search memory {muvera.memory_bytes or 0:,} bytes vs {exact.memory_bytes or 0:,}."
        + (f" **Below the benchmark's target here** ({'; '.join(missed)}; see the caveat)." if missed else ""),
        "",
        f"Every configuration (FDE settings, FAISS indexes, rerank depths, PLAID) is measured by `{BENCHMARK_COMMAND}`.",
    ]
    results = {
        "configuration": chosen.name,
        "source": chosen.source,
        "index_config": chosen.index_config,
        "recall_at_10_vs_exact": recall,
        "speedup_batch": batch,
        "speedup_single_query_p50": single,
        "meets_targets": not missed,
    }
    return DemoSection("\n".join(lines), results=results, caveats=caveats, commands=[BENCHMARK_COMMAND])


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (the ``recplug_demo_steps`` hook; imports nothing heavy)."""
    from recplug.records import DemoStep

    return [
        DemoStep(
            name="muvera",
            title="recplug-muvera: exact Chamfer and MUVERA at the benchmark's recommended configuration",
            systems=muvera_systems,
            run=muvera_section,
            order=20,
        )
    ]
