"""Stage 4c: diagnostics for the student's gap to BM25 (same queries, same metrics, writes results_ablations.json).

* untrained tied head (no distillation), IDF queries, at its own sparsity and pruned to the students'
  matched sparsity: what the training steps add;
* a WordPiece lexical baseline on whole documents, binary document terms and IDF queries (score = sum of
  IDF of the matched terms): what the same query side gets without any learned document weights;
* the head's lexical channel alone (BM25 over WordPiece terms) and the untrained head plus the channel at
  the students' weight: what the channel brings without training.

Run: ``nice -n 10 .venv/bin/python -m tools.bench.flops_idf.ablations``
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from recplug_flops_idf.pruning import mean_terms_threshold as threshold_for

from .caches import corpus_idf_cached
from .common import add_run_arguments, configure, load_scifact, results_dir, set_threads, test_split
from .holdout import lexical_channel_docs, lexical_docs, untrained_docs
from .scoring import K, flops_per_query, metrics, run_of
from .train_students import INIT_BIAS, LEXICAL_WEIGHT, SKIP_SCALE


def main(argv: list[str] | None = None) -> None:
    configure(add_run_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv))
    set_threads(2)
    from recplug_flops_idf.index import InvertedIndex
    from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder
    from recplug_flops_idf.vocab import load_vocabulary

    data = load_scifact()
    qrels, test_q, test_text = test_split(data)
    vocab, idf = load_vocabulary(), corpus_idf_cached(data.doc_texts)
    binary = InferenceFreeQueryEncoder(vocab, idf, weighting="binary").encode(test_text)
    systems = {}

    def evaluate(label: str, docs, prune_below: float = 0.0) -> None:
        index = InvertedIndex(vocab.size, idf=idf, prune_below=prune_below)
        index.add(docs, np.arange(docs.shape[0]))
        result = index.search(binary, K)
        systems[label] = {**metrics(run_of(test_q, data.doc_ids, result.ids, result.scores), qrels),
                          "doc_nnz": index.nnz / len(index), "flops_per_query": flops_per_query(index, binary)}
        print(label, systems[label], flush=True)

    evaluate("WordPiece lexical, whole documents (binary docs, IDF queries)", lexical_docs(data.doc_texts))

    target = json.loads((results_dir() / "results.json").read_text())["setup"]["matched_doc_nnz_target"]
    for skip, bias in ((0.0, -2.5), (SKIP_SCALE, INIT_BIAS)):
        untrained = untrained_docs(skip, bias, data.doc_texts)
        evaluate(f"untrained tied MLM head (skip {skip:g}, bias {bias:g}), IDF queries", untrained)
        evaluate(f"untrained tied MLM head (skip {skip:g}, bias {bias:g}), pruned to the students' matched sparsity",
                 untrained, threshold_for(untrained, target))
    evaluate("lexical channel alone (BM25 over WordPiece terms, k1 1.2, b 0.75)", lexical_channel_docs(data.doc_texts))
    if LEXICAL_WEIGHT:
        untrained = (untrained_docs(SKIP_SCALE, INIT_BIAS, data.doc_texts)
                     + lexical_channel_docs(data.doc_texts, LEXICAL_WEIGHT)).tocsr()
        label = f"untrained tied MLM head (skip {SKIP_SCALE:g}, bias {INIT_BIAS:g}) + lexical channel {LEXICAL_WEIGHT:g}"
        evaluate(f"{label}, IDF queries", untrained)
        evaluate(f"{label}, pruned to the students' matched sparsity", untrained, threshold_for(untrained, target))
    (results_dir() / "results_ablations.json").write_text(json.dumps(systems, indent=1))


if __name__ == "__main__":
    main()
