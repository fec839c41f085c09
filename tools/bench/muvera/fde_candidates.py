"""Where MUVERA's recall stops at scale: the FDE candidates' own recall of the exact Chamfer top 10, per FAISS index.

MUVERA reranks the top ``N`` documents by FDE inner product exactly, so its Recall@10 against exact Chamfer is bounded
by the share of the exact top 10 that the FAISS search over the FDEs returns among its ``N`` candidates. This measures
that share for several FAISS index factories over the same FDEs (the FDE setting of the demo's recommendation for this
CPU, :func:`recplug_muvera.demo.recommended`), on the scale benchmark's memory-mapped sample of the large corpus
(:mod:`tools.bench.muvera.scale`): exact brute-force FDE inner product (``Flat``), its SQ8 scan, HNSW graphs over
SQ8 or float32 codes, and 4-bit fast-scan PQ. Per factory: build (train + add) seconds, bytes per document of the
index, batch search ms per query, and the recall of the exact top 10 at each ``N``.

``.venv/bin/python -m tools.bench.muvera.fde_candidates --corpus out/corpora/debian-man --size 80000`` writes
``tools/bench/muvera/fde_candidates/results.json`` and ``results.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "fde_candidates"
FACTORIES = ["Flat", "SQ8", "HNSW32,SQ8", "HNSW32,Flat", "PQ2560x4fs", "PQ1280x4fs"]


def candidate_recall(exact_top: np.ndarray, found: np.ndarray, depth: int) -> float:
    """Mean share of each query's exact top ``k`` (``Q x k`` document positions, -1 where the corpus has fewer) among
    its first ``depth`` candidates (``Q x >= depth``)."""
    return float(np.mean([np.isin(e[e >= 0], f[:depth]).mean() for e, f in zip(exact_top, found, strict=True)]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder written by build_corpus.py")
    parser.add_argument("--size", type=int, default=80_000, help="documents: a prefix of the sample")
    parser.add_argument("--sample", type=int, default=80_000,
                        help="the sample's size: the scale run's largest size reads its cached token vectors")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depths", type=int, nargs="+", default=[150, 300, 600, 1200, 2400])
    parser.add_argument("--factories", nargs="+", default=FACTORIES)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[128, 512],
                        help="HNSW search depths (efSearch) tried on each HNSW factory")
    parser.add_argument("--work", type=Path, default=None, help="folder of the memory-mapped sample")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import faiss
    import torch
    from recplug.fileio import atomic_write_json, atomic_write_text
    from recplug.manager import load_plugin_manager
    from recplug_eval import cpu_model
    from recplug_eval.tables import markdown_table
    from recplug_muvera.config import SETUP_FIELDS, document_config
    from recplug_muvera.demo import recommended
    from recplug_muvera.fde import paired_encoders

    from tools.bench.muvera.scale import mapped_sample, read_folder, sample_order, work_folder

    _, texts, query_texts = read_folder(args.corpus)
    order = sample_order(len(texts), max(args.size, args.sample), args.seed)
    pm, chosen = load_plugin_manager(), recommended()
    encoder = pm.create("retrieval_encoder", "minilm-tokens")
    docs = mapped_sample(encoder, [texts[i] for i in order], work_folder(args.work), args.seed)
    subset = docs.first(min(args.size, len(docs)))
    queries = encoder.encode_queries(query_texts)
    k = 10
    started = time.perf_counter()
    exact = pm.create("retrieval_index", "chamfer-exact", dimension=docs.dimension)
    exact.add(subset, np.arange(len(subset)))
    exact_top = exact.search(queries, k).ids
    exact_s = time.perf_counter() - started
    del exact
    setting = {key: value for key, value in chosen.index_config.items() if key in SETUP_FIELDS}
    encode_documents, encode_queries = paired_encoders(document_config(docs.dimension, **setting))
    started = time.perf_counter()
    step = 5_000  # FDEs in blocks: the encoder's working memory stays small
    fdes = np.concatenate([encode_documents(subset.select(list(range(a, min(a + step, len(subset))))))
                           for a in range(0, len(subset), step)])
    fde_s = time.perf_counter() - started
    query_fdes = encode_queries(queries)
    depths = sorted(set(args.depths))
    rows, systems = [], {}
    for factory in args.factories:
        started = time.perf_counter()
        index = faiss.index_factory(fdes.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            index.train(fdes)
        index.add(fdes)
        build = time.perf_counter() - started
        size = faiss.serialize_index(index).nbytes
        searches = args.ef_search if "HNSW" in factory else [None]
        for ef in searches:
            if ef is not None:
                faiss.downcast_index(index).hnsw.efSearch = ef
            name = factory + ("" if ef is None else f" ef{ef}")
            entry: dict[str, Any] = {"factory": factory, "ef_search": ef, "build_s": build,
                                     "bytes_per_document": size / len(fdes), "recall": {}, "batch_ms_per_query": {}}
            for depth in depths:
                started = time.perf_counter()
                _, found = index.search(query_fdes, depth)
                entry["batch_ms_per_query"][depth] = 1000 * (time.perf_counter() - started) / len(query_fdes)
                entry["recall"][depth] = candidate_recall(exact_top, found, depth)
            systems[name] = entry
            rows.append([name, build, size / len(fdes) / 1024,
                         *[entry["recall"][d] for d in depths], *[entry["batch_ms_per_query"][d] for d in depths]])
            print(f"{name:24s} build {build:6.1f} s  " + "  ".join(
                f"N={d}: {entry['recall'][d]:.3f} ({entry['batch_ms_per_query'][d]:.1f} ms)" for d in depths), flush=True)
        del index
    command = (f"python -m tools.bench.muvera.fde_candidates --corpus DIR --size {len(subset)} --factories "
               + " ".join(args.factories) + " --depths " + " ".join(map(str, depths))
               + " --ef-search " + " ".join(map(str, args.ef_search)))
    results = {"setup": {"corpus": args.corpus.name, "documents": len(subset), "queries": len(query_texts), "k": k,
                         "seed": args.seed, "fde_dimension": int(fdes.shape[1]), "muvera": chosen.name,
                         "muvera_config": dict(chosen.index_config), "threads": torch.get_num_threads(),
                         "cpu": cpu_model(), "python": platform.python_version(), "faiss": faiss.__version__,
                         "exact_search_s": exact_s, "fde_encoding_s": fde_s, "command": command},
               "systems": systems}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "results.json", results)
    table = markdown_table(["FAISS index of the FDEs", "build s", "KiB / document",
                            *[f"recall @ N={d}" for d in depths], *[f"ms/query @ N={d}" for d in depths]], rows,
                           floatfmt=["", ".1f", ".2f", *[".3f"] * len(depths), *[".2f"] * len(depths)])
    atomic_write_text(args.out / "results.md", "\n".join([
        "# MUVERA's FDE candidates: recall of the exact Chamfer top 10 per FAISS index (issue 34)",
        "",
        f"{len(subset):,} documents of `{args.corpus.name}` (the scale benchmark's seeded sample, seed {args.seed}), "
        f"{len(query_texts)} queries; FDEs of `{chosen.name}`'s setting ({fdes.shape[1]:,} dimensions); "
        f"{torch.get_num_threads()} threads, {cpu_model()}, FAISS {faiss.__version__}. Recall @ N: the share of the "
        "exact Chamfer top 10 among the index's first N candidates, which bounds MUVERA's R@10 against exact after "
        "an exact rerank of those N. ms/query: one batch of all query FDEs, per query (FDE search only, no rerank).",
        "",
        f"Command: `{command}`",
        "",
        table,
        "",
    ]))
    print(f"wrote {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
