"""Stage 4c: diagnostics for the student's gap to BM25 (same queries, same metrics, writes results_ablations.json).

* untrained tied head (no distillation), IDF queries, at its own sparsity and pruned to the students'
  matched sparsity: what the training steps add;
* a WordPiece lexical baseline on whole documents, binary document terms and IDF queries (score = sum of
  IDF of the matched terms): what the same query side gets without any learned document weights.

Run: ``nice -n 10 .venv/bin/python tools/bench/flops_idf/ablations.py``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import CORPUS_STATES, cache_root, load_scifact, set_threads, test_split
from evaluate import HERE, K, flops_per_query, metrics, run_of, threshold_for
from train_students import corpus_idf_cached, head_terms


def main() -> None:
    set_threads(2)
    import scipy.sparse as sp
    import torch
    from recplug_flops_idf.backbone import HiddenStates, load_backbone
    from recplug_flops_idf.doc_encoder import SparseHead, encode_hidden_states
    from recplug_flops_idf.index import InvertedIndex
    from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder, term_matrix
    from recplug_flops_idf.vocab import load_vocabulary

    data, out = load_scifact(), cache_root()
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

    tokens = vocab.token_ids(data.doc_texts)
    terms = [np.unique(t) for t in tokens]
    evaluate("WordPiece lexical, whole documents (binary docs, IDF queries)",
             term_matrix(terms, [np.ones(len(t)) for t in terms], vocab.size))

    path = out / "docs_untrained.npz"
    if not path.exists():
        torch.manual_seed(0)
        states = HiddenStates.load(out / CORPUS_STATES)
        head = SparseHead(load_backbone().embeddings.word_embeddings.weight, head_terms(data.doc_texts), -2.5, bf16=True)
        sp.save_npz(path, encode_hidden_states(head, states, progress=True))
    untrained = sp.load_npz(path)
    evaluate("untrained tied MLM head (bias -2.5), IDF queries", untrained)
    target = json.loads((HERE / "results.json").read_text())["setup"]["matched_doc_nnz_target"]
    evaluate("untrained tied MLM head, pruned to the students' matched sparsity", untrained,
             threshold_for(untrained, target))
    (HERE / "results_ablations.json").write_text(json.dumps(systems, indent=1))


if __name__ == "__main__":
    main()
