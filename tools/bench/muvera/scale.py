"""Cost as the corpus grows (issue 34, first steps): exact Chamfer and MUVERA on nested samples of the large corpus.

The corpus is the folder ``build_corpus.py`` writes (BEIR layout, no qrels): a seeded sample of its passages is
encoded once with MiniLM token embeddings (the shared, cached pass ``recplug eval`` uses), and each size is a
prefix of that sample, so every size reads the same cached vectors. Per size and system, in one run: index build
time, memory at query time (the index's own count) and bytes per document, batch search time, one-query-at-a-time
p50 / p95 (a bounded sample), and Recall@10 against exact Chamfer's top 10 (no human judgments). MUVERA runs in the
configuration ``recplug demo`` recommends for this CPU (:func:`recplug_muvera.demo.recommended`), built once per
size and searched at each of ``--candidates`` (the rerank depth ``N``): recall against latency, and the cheapest
depth reaching Recall@10 >= 0.95 (issue 34's target) at each size.

Memory: the normalised float16 token vectors of the sample are written once to a ``.npy`` beside the cache and
memory-mapped read-only; both indexes read them in place (:func:`recplug.multivector.append_float16`), so the
corpus is not copied per index and the largest size is bounded by disk, not by memory. The process's peak resident
memory is reported beside each index's own count.

``.venv/bin/python -m tools.bench.muvera.scale --corpus out/corpora/debian-man --sizes 10000 20000 40000 80000``
writes ``tools/bench/muvera/scale/results.json``, ``results.md``, ``cost_growth.png`` and ``recall_latency.png``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from recplug_muvera.demo import TARGET_RECALL  # the benchmark's R@10-vs-exact target (issue 34's too)
from recplug_muvera.index import SCREENS

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent / "scale"
EXACT = "exact-chamfer"
#: the peers of the run, by key: the prefix of their systems' names, and their marker and label in the plots
PEERS = {"plaid": ("plaid ", "s", "PLAID (PyLate; its settings)"),
         "warp": ("warp ", "^", "WARP (xtr-warp-rs; its settings)")}


def read_folder(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """``(doc_ids, doc texts, query texts)`` of a BEIR folder (texts as ``recplug eval`` builds them)."""
    from recplug_eval.datasets.beir import BeirDataset, document_texts

    data = BeirDataset(folder)
    corpus = data.corpus()
    return corpus["doc_id"].to_list(), document_texts(corpus), data.queries()["text"].to_list()


def one_at_a_time(index: Any, queries: Any, k: int, seconds: float) -> list[float]:
    """Milliseconds per single-query search over the queries in order, stopped after ``seconds`` (at least the
    ``MIN_LATENCY_QUERIES`` of ``recplug eval``'s ``latency_seconds``), after one untimed warm-up search."""
    from recplug_eval.runner import MIN_LATENCY_QUERIES

    minimum = MIN_LATENCY_QUERIES
    index.search(queries.select([0]), k)
    elapsed: list[float] = []
    for i in range(len(queries)):
        if len(elapsed) >= minimum and sum(elapsed) >= 1000 * seconds:
            break
        start = time.perf_counter()
        index.search(queries.select([i]), k)
        elapsed.append(1000 * (time.perf_counter() - start))
    return elapsed


def sample_order(passages: int, size: int, seed: int) -> np.ndarray:
    """The corpus positions of the seeded sample (``size`` of ``passages``), each benchmark size being a prefix."""
    return np.random.default_rng(seed).permutation(passages)[:size]


def cache_root() -> Path:
    """recplug's cache folder (``RECPLUG_CACHE_DIR`` or its default)."""
    from recplug_eval.paths import cache_dir

    return Path(cache_dir())


def work_folder(work: Path | None) -> Path:
    """The benchmarks' working folder (the memory-mapped sample, the peers' exchange files): ``work``, else
    ``<recplug cache>/bench-scale``."""
    return work or cache_root() / "bench-scale"


def mapped_sample(encoder: Any, texts: list[str], work: Path, seed: int) -> Any:
    """The normalised token sets of ``texts`` (``encoder``: ``minilm-tokens``, its documents from the shared cached
    pass) as a read-only memory-mapped float16 batch, written once to ``work`` (keyed by the encoder, seed and texts)
    and read from there afterwards."""
    from recplug.fileio import atomic_writer
    from recplug.multivector import MultiVectorBatch
    from recplug_eval.embedding_cache import cache_key

    key = cache_key({**encoder.config(), "sample_seed": seed}, "documents", texts)
    values, offsets = work / f"sample-{key}.values.npy", work / f"sample-{key}.offsets.npy"
    if not (values.exists() and offsets.exists()):
        work.mkdir(parents=True, exist_ok=True)
        batch = encoder.encode_documents(texts)
        for path, array in ((values, np.asarray(batch.values, np.float16)), (offsets, batch.offsets)):
            with atomic_writer(path) as handle:
                np.save(handle, array, allow_pickle=False)
        del batch
        release_freed_memory()
    return MultiVectorBatch(np.load(values, mmap_mode="r"), np.load(offsets))


def release_freed_memory() -> None:
    """Hand the heap's freed pages back to the system (glibc's ``malloc_trim``; nothing elsewhere). The token pass
    frees millions of small per-text arrays; without this glibc kept about 11 GB of them at 80k documents, which the
    indexes' large allocations could not reuse."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if platform.system() == "Linux" and name:
        trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
        if trim is not None:
            trim(0)


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (Linux reports KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def timed(index: Any, queries: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Batch search of every query, then the bounded one-query-at-a-time sample: the result ids and the timings."""
    start = time.perf_counter()
    result = index.search(queries, args.k)
    batch = time.perf_counter() - start
    singles = one_at_a_time(index, queries, args.k, args.latency_seconds)
    return {"ids": result.ids, "batch_ms_per_query": 1000 * batch / len(queries),
            "p50_ms": float(np.percentile(singles, 50)), "p95_ms": float(np.percentile(singles, 95)),
            "timed_queries": len(singles)}


def measure(size: int, docs: Any, ids: np.ndarray, queries: Any, args: argparse.Namespace, pm: Any,
            chosen: Any) -> dict[str, Any]:
    """Exact Chamfer, then MUVERA (``chosen``, a ``MuveraDemoConfig``) at each rerank depth, over the first ``size``
    documents (views of the memory-mapped sample: no copy)."""
    import gc

    from tools.bench.muvera.bench_muvera import recall_vs

    subset = docs.first(size)
    row: dict[str, Any] = {"documents": size, "token_vectors": int(subset.offsets[-1]), "systems": {}}

    def report(system: str, entry: dict[str, Any]) -> None:
        row["systems"][system] = entry
        recall = entry.get("R@10 vs exact")
        batch = entry["batch_ms_per_query"]
        print(f"{size:>7,} docs  {system:18s} build {entry['build_s']:7.1f} s  batch "
              f"{'-' if batch is None else f'{batch:.2f}':>8} ms/q  p50 {entry['p50_ms']:8.2f} ms  p95 {entry['p95_ms']:8.2f} ms  memory "
              f"{entry['memory_bytes'] / 2**20:8.1f} MiB" + ("" if recall is None else f"  R@10 vs exact {recall:.3f}"),
              flush=True)

    index = pm.create("retrieval_index", "chamfer-exact", dimension=docs.dimension)
    start = time.perf_counter()
    index.add(subset, ids[:size])
    build = time.perf_counter() - start
    got = timed(index, queries, args)
    exact_ids = got.pop("ids")
    memory = int(index.memory_bytes())
    report(EXACT, {"index": "chamfer-exact", "config": {}, "build_s": build, **got, "memory_bytes": memory,
                   "bytes_per_document": memory / size, "peak_rss_bytes": peak_rss_bytes()})
    del index
    gc.collect()

    for factory in args.factories or [chosen.index_config["faiss_factory"]]:
        config = factory_config(chosen.index_config, factory)
        index = pm.create("retrieval_index", "muvera-chamfer", dimension=docs.dimension, **config)
        start = time.perf_counter()
        index.add(subset, ids[:size])
        build = time.perf_counter() - start
        memory = int(index.memory_bytes())
        for _, depth, rescore in muvera_points([factory], args.candidates, args.rescore, config):
            search = {"candidates": depth, **({} if rescore is None else {"rescore": rescore})}
            searcher = index.with_search(**search)
            got = timed(searcher, queries, args)
            recall = recall_vs(exact_ids, got.pop("ids"), 10)
            report(muvera_name(depth, rescore, factory if args.factories else None), {
                "index": "muvera-chamfer", "config": {**config, **search}, "configuration": chosen.name,
                "faiss_factory": factory, "candidates": depth, "rescore": rescore, "build_s": build, **got,
                "memory_bytes": memory, "bytes_per_document": memory / size, "peak_rss_bytes": peak_rss_bytes(),
                "R@10 vs exact": recall})
        del index, searcher
        gc.collect()
    for peer, limit, run in (("plaid", args.plaid_max_size, measure_plaid), ("warp", args.warp_max_size, measure_warp)):
        if size <= limit:
            try:
                run(subset, ids[:size], queries, exact_ids, args, report)
            except Exception as exc:  # a peer that fails is reported, and the run goes on without it
                message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                row.setdefault("failed", {})[peer] = message
                print(f"{size:>7,} docs  {peer} failed: {message}", flush=True)
    row["cheapest_at_target"] = fastest_at_target(row, "muvera-")
    for peer, (prefix, _, _) in PEERS.items():
        row[f"{peer}_fastest_at_target"] = fastest_at_target(row, prefix)
    return row


def fastest_at_target(row: dict[str, Any], prefix: str) -> str | None:
    """The system named ``prefix...`` with the lowest one-query p50 among those reaching :data:`TARGET_RECALL`."""
    reaching = [name for name, e in row["systems"].items()
                if name.startswith(prefix) and e["R@10 vs exact"] >= TARGET_RECALL]
    return min(reaching, key=lambda name: row["systems"][name]["p50_ms"]) if reaching else None


def measure_plaid(subset: Any, ids: np.ndarray, queries: Any, exact_ids: np.ndarray, args: argparse.Namespace,
                  report: Any) -> None:
    """PLAID (PyLate's Stanford backend, :mod:`tools.bench.muvera.plaid_peer`) over the same token vectors: one build,
    then each of its search settings one query at a time (PyLate's API) over every query."""
    from tools.bench.muvera.bench_muvera import recall_vs
    from tools.bench.muvera.plaid_peer import run_plaid

    docs = [np.asarray(subset[i], np.float32) for i in range(len(subset))]
    build, disk, runs = run_plaid(docs, [np.asarray(queries[i], np.float32) for i in range(len(queries))], k=args.k)
    for run in runs:
        report(f"plaid ({run.label})", {
            "index": "pylate-plaid", "config": run.settings, "build_s": build,
            "batch_ms_per_query": None,  # PyLate's PLAID answers one query per call
            "p50_ms": float(np.percentile(run.single_ms, 50)), "p95_ms": float(np.percentile(run.single_ms, 95)),
            "timed_queries": len(run.single_ms), "memory_bytes": disk, "bytes_per_document": disk / len(subset),
            "peak_rss_bytes": peak_rss_bytes(), "R@10 vs exact": recall_vs(exact_ids, ids_at(ids, run.positions), 10)})


def measure_warp(subset: Any, ids: np.ndarray, queries: Any, exact_ids: np.ndarray, args: argparse.Namespace,
                 report: Any) -> None:
    """WARP (``xtr-warp-rs`` in its own environment, :mod:`tools.bench.muvera.warp_peer`) over the same token
    vectors: one build, then each of its search settings one query at a time over every query, with this run's
    threads. Its memory: the index on disk (memory-mapped at search) and the worker process's own peak RSS."""
    import torch

    from tools.bench.muvera.bench_muvera import recall_vs
    from tools.bench.muvera.warp_peer import run_warp

    work = work_folder(args.work) / "warp"
    build, disk, rss, runs, version = run_warp(
        subset.values, subset.offsets, [np.asarray(queries[i], np.float32) for i in range(len(queries))],
        k=args.k, threads=torch.get_num_threads(), folder=work, venv=args.warp_venv)
    for run in runs:
        report(f"warp ({run.label})", {
            "index": f"xtr-warp-rs {version}", "config": run.settings, "build_s": build, "batch_ms_per_query": None,
            "p50_ms": float(np.percentile(run.single_ms, 50)), "p95_ms": float(np.percentile(run.single_ms, 95)),
            "timed_queries": len(run.single_ms), "memory_bytes": disk, "bytes_per_document": disk / len(subset),
            "peak_rss_bytes": rss, "R@10 vs exact": recall_vs(exact_ids, ids_at(ids, run.positions), 10)})


def ids_at(ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The ids at a peer's ``Q x k`` result positions (-1, no result: an id that matches nothing)."""
    return np.where(positions >= 0, ids[np.maximum(positions, 0)], -1 if ids.dtype.kind not in "UO" else "")


def factory_config(config: dict[str, Any], factory: str) -> dict[str, Any]:
    """``config`` (MUVERA index options) with its FDEs in the FAISS index ``factory`` (HNSW's ``ef_search`` kept only
    where the factory has an HNSW graph)."""
    changed = {**config, "faiss_factory": factory}
    if "HNSW" not in factory:
        changed.pop("ef_search", None)
    return changed


def muvera_names(results: dict[str, Any]) -> list[str]:
    """The MUVERA systems of the run: per FAISS factory, shallowest rerank first."""
    setup = results["setup"]
    factories = setup.get("factories")  # absent in runs of one factory (the recommended one): names without it
    return [muvera_name(depth, rescore, factory if factories else None) for factory, depth, rescore in
            muvera_points(factories or [None], setup["candidates"], setup.get("rescore") or [],
                          setup.get("muvera_config", {}))]


def muvera_points(factories: list[Any], candidates: list[int], rescores: list[int],
                  config: dict[str, Any]) -> list[tuple[Any, int, int | None]]:
    """The (FAISS factory, rerank depth N, exact rescore) triples searched: every N with every ``rescores`` value
    where the configuration screens its candidates (int8 / bfloat16 first pass), else every N alone (rescore None)."""
    screened = config.get("rerank_dtype") in SCREENS
    return [(f, n, r) for f in factories for r in (sorted(set(rescores)) if screened and rescores else [None])
            for n in sorted(set(candidates))]


def muvera_name(depth: int, rescore: int | None, factory: str | None = None) -> str:
    """``muvera-n150`` (the configuration's own rescore), ``muvera-n150-r40`` (exact rescore of the best k + 40),
    ``muvera-pq2560x4fs-n600`` (FDEs in that FAISS factory, where the run compares factories)."""
    tag = "" if factory is None else factory.lower().replace(",", "-") + "-"
    return f"muvera-{tag}n{depth}" + ("" if rescore is None else f"-r{rescore}")


def markdown(results: dict[str, Any]) -> str:
    from recplug_eval.tables import markdown_table

    rows, summary = [], []
    for row in results["rows"]:
        for system, e in row["systems"].items():
            rows.append([f"{row['documents']:,}", system, e["build_s"], e["bytes_per_document"] / 1024,
                         e["memory_bytes"] / 2**20, e["peak_rss_bytes"] / 2**30, e["batch_ms_per_query"],
                         e["p50_ms"], e["p95_ms"], e.get("R@10 vs exact")])
        best, exact = row["cheapest_at_target"], row["systems"][EXACT]
        chosen = row["systems"].get(best) if best else None
        line = [f"{row['documents']:,}", exact["p50_ms"], best or "none reaches it",
                chosen["p50_ms"] if chosen else None, chosen["R@10 vs exact"] if chosen else None,
                exact["p50_ms"] / chosen["p50_ms"] if chosen else None]
        for peer, (prefix, _, _) in PEERS.items():
            name = row.get(f"{peer}_fastest_at_target")
            found = row["systems"].get(name) if name else None
            line += [name or ("not run" if not any(n.startswith(prefix) for n in row["systems"]) else "none reaches it"),
                     found["p50_ms"] if found else None,
                     chosen["p50_ms"] / found["p50_ms"] if chosen and found else None,
                     chosen["build_s"] / found["build_s"] if chosen and found else None]
        summary.append(line)
    table = markdown_table(["documents", "system", "build s", "KiB / document", "index memory MiB",
                            "process peak RSS GiB", "batch ms/query", "1-query p50 ms", "1-query p95 ms",
                            "R@10 vs exact"], rows,
                           floatfmt=["", "", ".1f", ".1f", ".0f", ".1f", ".2f", ".2f", ".2f", ".3f"])
    headline = markdown_table(["documents", "exact p50 ms", f"cheapest MUVERA with R@10 >= {TARGET_RECALL}",
                               "its p50 ms", "its R@10 vs exact", "speed-up over exact (p50)",
                               *[column for peer in PEERS for column in (
                                   f"fastest {peer.upper()} with R@10 >= {TARGET_RECALL}", "its p50 ms",
                                   f"MUVERA / {peer.upper()} p50", f"MUVERA / {peer.upper()} build")]], summary,
                              floatfmt=["", ".1f", "", ".2f", ".3f", ".1f", *["", ".2f", ".2f", ".3f"] * len(PEERS)])
    setup = results["setup"]
    return "\n".join([
        "# MUVERA, PLAID, WARP and exact Chamfer as the corpus grows (issue 34)",
        "",
        f"Corpus: {setup['corpus_passages']:,} passages of `{setup['corpus']}` (built by `build_corpus.py`; no "
        f"judgments), a seeded sample (seed {setup['seed']}) of which each size is a prefix; {setup['queries']} "
        f"held-out queries. MiniLM token embeddings (the shared cached pass), {setup['threads']} torch threads, "
        f"{setup['cpu']}. MUVERA: the index of `{setup['muvera']}` (the demo's recommendation for this CPU), built "
        f"once per size and searched with rerank depths N = {', '.join(str(n) for n in setup['candidates'])} "
        f"(`muvera-nN`" + (f"; `-rR`: the int8 screen's best k + R rescored exactly, R = "
                           f"{', '.join(str(r) for r in setup['rescore'])}; without it the configuration's own "
                           f"{setup.get('muvera_config', {}).get('rescore', 10)}" if setup.get("rescore") else "")
        + "). One-query timings: the queries in order, stopped after {setup['latency_seconds']:g} s per "
        "system (at least 20).",
        "",
        f"Command: `{setup['command']}`",
        "",
        headline,
        "",
        table,
        "",
        "Index memory: what the index itself counts for search (exact: the float16 token store; MUVERA: FDE index, "
        "the float16 store and its rerank copy); the float16 store is the memory-mapped sample, read in place, so the "
        "process's peak resident memory (monotone over the run) is the better measure of what the machine needs. "
        "Build: `index.add` of the size's documents, their token embeddings already computed (the MiniLM pass is not "
        "counted).",
        "",
        *([f"**Stopped** at {results['stopped']}", ""] if results.get("stopped") else []),
        *[f"**{peer} failed** at {row['documents']:,} documents: `{message}`" for row in results["rows"]
          for peer, message in row.get("failed", {}).items()],
        "",
        "![cost as the corpus grows](cost_growth.png)",
        "",
        "![recall against latency at the largest size](recall_latency.png)",
        "",
    ])


def plot(results: dict[str, Any], path: Path) -> None:
    """Cost against corpus size: exact Chamfer and, per size, the cheapest MUVERA depth at the recall target (or
    the deepest one where none reaches it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    sizes = [r["documents"] for r in rows]
    muvera = [r["systems"][r["cheapest_at_target"] or max(muvera_names(results),
                                                          key=lambda n, r=r: r["systems"][n]["R@10 vs exact"])]
              for r in rows]
    panels = [("build_s", "index build (s)"), ("bytes_per_document", "KiB per document"),
              ("p50_ms", "1-query p50 (ms)"), ("p95_ms", "1-query p95 (ms)"), ("R@10 vs exact", "R@10 vs exact")]
    scale = {"bytes_per_document": 1 / 1024}
    label = "MUVERA (cheapest at the target, else the most accurate)"
    fig, axes = plt.subplots(1, len(panels), figsize=(18, 3.8), layout="constrained")
    for ax, (key, title) in zip(axes, panels, strict=True):
        factor = scale.get(key, 1.0)
        if key != "R@10 vs exact":
            ax.plot(sizes, [r["systems"][EXACT][key] * factor for r in rows], marker="o", color="C0", label=EXACT)
            if key != "bytes_per_document":
                ax.set_yscale("log")
        else:
            ax.axhline(TARGET_RECALL, color="grey", linestyle="--", linewidth=1, label=f"target {TARGET_RECALL}")
        ax.plot(sizes, [e[key] * factor for e in muvera], marker="D", color="C1", label=label)  # one color per system
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{n // 1000}k" if n >= 1000 else str(n) for n in sizes])  # one label per size, no overprint
        ax.minorticks_off()
        ax.set_xlabel("documents (log scale)")
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
    handles = axes[0].get_legend_handles_labels()[0] + axes[-1].get_legend_handles_labels()[0][:1]  # + the target
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
    from recplug.fileio import atomic_save_with

    atomic_save_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def plot_recall_latency(results: dict[str, Any], path: Path) -> None:
    """Recall@10 against exact Chamfer vs one-query p50 at the largest size, one point per rerank depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    row = results["rows"][-1]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    points = [row["systems"][name] for name in muvera_names(results)]
    for factory, rescore in dict.fromkeys((e.get("faiss_factory"), e.get("rescore")) for e in points):
        line = [e for e in points if (e.get("faiss_factory"), e.get("rescore")) == (factory, rescore)]
        ax.plot([e["p50_ms"] for e in line], [e["R@10 vs exact"] for e in line], marker="D",  # a line per index
                label="MUVERA" + (f" {factory}" if results["setup"].get("factories") else "")
                + ("" if rescore is None else f", rescore {rescore}"))
    for i, e in enumerate(points):  # labels alternate below and above their points: neighbours do not overprint
        ax.annotate(f"N={e['candidates']}" + (f", r={e['rescore']}" if e.get("rescore") is not None else ""),
                    (e["p50_ms"], e["R@10 vs exact"]), textcoords="offset points",
                    xytext=(4, -12 if i % 2 == 0 else 6), fontsize=8)
    for prefix, marker, label in PEERS.values():
        peer = [e for name, e in row["systems"].items() if name.startswith(prefix)]
        if peer:
            ax.plot([e["p50_ms"] for e in peer], [e["R@10 vs exact"] for e in peer], marker=marker, linestyle="none",
                    label=label)
    exact = row["systems"][EXACT]
    ax.plot([exact["p50_ms"]], [1.0], marker="o", linestyle="none", label=f"{EXACT} (the reference)")
    ax.axhline(TARGET_RECALL, color="grey", linestyle="--", linewidth=1, label=f"target {TARGET_RECALL}")
    ax.set_xscale("log")
    ax.set_xlabel("1-query p50 latency (ms, log scale)")
    ax.set_ylabel("R@10 vs exact Chamfer")
    ax.set_title(f"{row['documents']:,} documents")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    from recplug.fileio import atomic_save_with

    atomic_save_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder written by build_corpus.py")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 40_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--candidates", type=int, nargs="+", default=[150, 300, 600, 1200],
                        help="MUVERA rerank depths N searched on each size's index")
    parser.add_argument("--factories", nargs="*", default=[],
                        help="FAISS index factories of the FDEs, each built and searched (default: the recommended "
                             "configuration's own); a PQ's M must divide the FDE dimension (20480 here)")
    parser.add_argument("--rescore", type=int, nargs="*", default=[],
                        help="with a screened MUVERA (int8 / bfloat16 first pass): candidates beyond the top k "
                             "rescored exactly, each value with each N (default: the configuration's own)")
    parser.add_argument("--plaid-max-size", type=int, default=0,
                        help="run PLAID (PyLate, needs requirements-plaid.txt) on the sizes up to this one (0: never)")
    parser.add_argument("--warp-max-size", type=int, default=0,
                        help="run WARP (xtr-warp-rs, in --warp-venv) on the sizes up to this one (0: never)")
    parser.add_argument("--warp-venv", type=Path, default=ROOT / ".venv-warp",
                        help="WARP's virtual environment (made from requirements-warp.txt when missing)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder of the memory-mapped sample (default: <recplug cache>/bench-scale)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import torch
    from recplug.fileio import atomic_write_json, atomic_write_text
    from recplug_eval import cpu_model
    from recplug_muvera.demo import recommended

    doc_ids, texts, query_texts = read_folder(args.corpus)
    sizes = sorted(set(args.sizes))
    if sizes[-1] > len(texts):
        raise SystemExit(f"--sizes: {sizes[-1]:,} exceeds the corpus's {len(texts):,} passages")
    order = sample_order(len(texts), sizes[-1], args.seed)
    from recplug.manager import load_plugin_manager

    pm, chosen = load_plugin_manager(), recommended()
    encoder = pm.create("retrieval_encoder", "minilm-tokens")
    start = time.perf_counter()
    docs = mapped_sample(encoder, [texts[i] for i in order], work_folder(args.work), args.seed)
    encode_s = time.perf_counter() - start
    queries = encoder.encode_queries(query_texts)
    ids = np.asarray([doc_ids[i] for i in order])
    results: dict[str, Any] = {
        "setup": {"corpus": args.corpus.name, "corpus_passages": len(texts), "queries": len(query_texts),
                  "seed": args.seed, "sizes": sizes, "k": args.k, "latency_seconds": args.latency_seconds,
                  "threads": torch.get_num_threads(), "cpu": cpu_model(), "python": platform.python_version(),
                  "muvera": chosen.name, "muvera_config": dict(chosen.index_config),
                  "candidates": sorted(set(args.candidates)), "rescore": sorted(set(args.rescore)),
                  **({"factories": list(dict.fromkeys(args.factories))} if args.factories else {}),
                  "encode_documents_s": encode_s,
                  "encoder": encoder.config(),
                  "command": "python -m tools.bench.muvera.scale --corpus DIR --sizes "
                             + " ".join(str(s) for s in sizes) + " --candidates "
                             + " ".join(str(n) for n in sorted(set(args.candidates)))
                             + (" --rescore " + " ".join(str(r) for r in sorted(set(args.rescore))) if args.rescore else "")
                             + (" --factories " + " ".join(args.factories) if args.factories else "")
                             + (f" --plaid-max-size {args.plaid_max_size}" if args.plaid_max_size else "")
                             + (f" --warp-max-size {args.warp_max_size}" if args.warp_max_size else "")
                             + ("" if os.environ.get("OMP_NUM_THREADS") is None
                                else f"  (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})")},
        "rows": [],
    }
    if args.plaid_max_size:  # PLAID compiles its C++ kernels on first use: not part of any size's build time
        from tools.bench.muvera.plaid_peer import run_plaid

        warm = docs.first(min(200, len(docs)))
        run_plaid([np.asarray(warm[i], np.float32) for i in range(len(warm))], [np.asarray(queries[0], np.float32)],
                  k=args.k)
    for size in sizes:
        try:
            results["rows"].append(measure(size, docs, ids, queries, args, pm, chosen))
        except MemoryError as exc:  # ResourceError (check_fits) included: the sizes measured so far are still written up
            results["stopped"] = f"{size:,} documents: {exc}"
            print(f"stopped at {size:,} documents: {exc}", flush=True)
            break
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out / "results.json", results)  # every finished size is kept
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "results.json", results)
    plot(results, args.out / "cost_growth.png")
    plot_recall_latency(results, args.out / "recall_latency.png")
    atomic_write_text(args.out / "results.md", markdown(results))
    print(f"wrote {args.out / 'results.md'}; token encoding {encode_s:.0f} s (cached afterwards)")
    assert all(math.isfinite(r["systems"][name]["R@10 vs exact"]) for r in results["rows"] for name in muvera_names(results))


if __name__ == "__main__":
    main()
