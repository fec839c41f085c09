"""Stage 1: one MiniLM backbone pass over the SciFact corpus and queries (cached).

Writes ``<cache>/flops_idf/corpus_hidden_L128.npz`` (hidden states, lengths, dense embeddings) and
``queries_dense.npy``. Run: ``nice -n 10 .venv/bin/python tools/bench/flops_idf/prepare.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import Timer, cache_root, load_scifact, set_threads

MAX_LENGTH = 128


def main() -> None:
    set_threads(2)
    from recplug_flops_idf.backbone import encode_hidden, load_backbone
    from recplug_flops_idf.vocab import load_vocabulary

    data = load_scifact()
    vocab, backbone = load_vocabulary(), load_backbone()
    out = cache_root()
    qpath = out / "queries_dense.npy"
    if not qpath.exists():
        with Timer("queries backbone"):
            q = encode_hidden(data.query_texts, vocab.tokenizer, backbone, MAX_LENGTH, keep_hidden=False)
        np.save(qpath, q.dense)
    cpath = out / f"corpus_hidden_L{MAX_LENGTH}.npz"
    if not cpath.exists():
        with Timer("corpus backbone"):
            states = encode_hidden(data.doc_texts, vocab.tokenizer, backbone, MAX_LENGTH, batch_size=32, progress=True)
        states.save(cpath)
    print("cached in", out)


if __name__ == "__main__":
    main()
