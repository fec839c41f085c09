"""Stage 4b: Seismic (pyseismic-lsr, approximate) on the IDF-aware student's vectors, with bm25s and this
plugin's exact index timed again in the same run. Needs ``evaluate.py`` to have run (cached vectors).

Run: ``nice -n 10 .venv/bin/python -m tools.bench.flops_idf.seismic_bench``
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from .caches import corpus_idf_cached
from .common import add_run_arguments, cache_root, configure, load_scifact, results_dir, set_threads, test_split
from .scoring import K, median_time, metrics, run_of
from .teachers import bm25_retriever, bm25_tokens

LABEL = "student + IDF-aware FLOPS [matched sparsity]"


def main(argv: list[str] | None = None) -> None:
    configure(add_run_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv))
    set_threads(2)
    import scipy.sparse as sp
    import seismic
    from recplug_flops_idf.index import InvertedIndex
    from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder
    from recplug_flops_idf.vocab import load_vocabulary

    data, out = load_scifact(), cache_root()
    results = json.loads((results_dir() / "results.json").read_text())
    cut = results["systems"][LABEL]["prune_below"]
    qrels, test_q, test_text = test_split(data)
    vocab, idf = load_vocabulary(), corpus_idf_cached(data.doc_texts)
    docs = sp.load_npz(out / "docs_flops-idf.npz")
    index = InvertedIndex(vocab.size, idf=idf, prune_below=cut, vocab_sha256=vocab.checksum)
    index.add(docs, np.arange(docs.shape[0]))
    binary = InferenceFreeQueryEncoder(vocab, idf, weighting="binary").encode(test_text)

    folded = index._folded().tocsr()
    string = seismic.get_seismic_string()
    dataset = seismic.SeismicDataset()
    for row in range(folded.shape[0]):
        lo, hi = folded.indptr[row], folded.indptr[row + 1]
        dataset.add_document(str(row), folded.indices[lo:hi].astype(str).astype(string),
                             folded.data[lo:hi].astype(np.float32))
    sindex = seismic.SeismicIndex.build_from_dataset(dataset, num_threads=2)
    q_comp = [binary.indices[binary.indptr[i]:binary.indptr[i + 1]].astype(str).astype(string)
              for i in range(binary.shape[0])]
    q_val = [np.ones(len(c), np.float32) for c in q_comp]

    def seismic_loop(k: int = 10):
        return [sindex.search(str(i), c, v, k=k, query_cut=64, heap_factor=0.9) for i, (c, v) in
                enumerate(zip(q_comp, q_val, strict=True))]

    hits = seismic_loop(K)
    positions = np.full((len(hits), K), -1)
    scores = np.full((len(hits), K), -np.inf)
    for i, row in enumerate(hits):
        for j, (_, score, doc) in enumerate(row):
            positions[i, j], scores[i, j] = int(doc), score
    quality = metrics(run_of(test_q, data.doc_ids, positions, scores), qrels)
    exact = index.search(binary, 10)
    overlap = float(np.mean([len(set(exact.ids[i]) & set(positions[i, :10])) / 10 for i in range(len(hits))]))

    retriever, stemmer = bm25_retriever(data.doc_texts)
    q_tokens = bm25_tokens(test_text, stemmer)
    timings = {}
    for label, fn in [
        ("bm25s", lambda: [retriever.retrieve([t], k=10, show_progress=False, n_threads=1) for t in q_tokens]),
        ("inverted index (ours, exact)", lambda: [index.search(binary[i], 10) for i in range(binary.shape[0])]),
        ("Seismic (approximate, query_cut 64, heap_factor 0.9)", seismic_loop),
    ]:
        fn()
        timings[label] = median_time(fn) / binary.shape[0] * 1e3
        print(f"{label}: {timings[label]:.3f} ms/query", flush=True)
    record = {"quality": quality, "top10_overlap_with_exact": overlap, "latency_ms_per_query": timings,
              "seismic_version": "pyseismic-lsr 0.5.4", "prune_below": cut}
    (results_dir() / "results_seismic.json").write_text(json.dumps(record, indent=1))
    print(record)


if __name__ == "__main__":
    main()
