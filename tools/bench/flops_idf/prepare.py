"""Stage 1: one MiniLM backbone pass over the SciFact corpus and queries (cached).

Whole documents: every 512-token window of every document (bfloat16 autocast, as the students train and
encode). Writes ``<cache>/flops_idf/corpus_hidden_W512.npz`` (packed hidden states, offsets, dense
embeddings of the first window) and ``queries_dense.npy``.
Run: ``nice -n 10 .venv/bin/python -m tools.bench.flops_idf.prepare``.
"""

from __future__ import annotations

import argparse

import numpy as np
from recplug_eval import native_bf16

from .common import CORPUS_STATES, WINDOW, Timer, add_run_arguments, cache_root, configure, load_scifact, set_threads


def main(argv: list[str] | None = None) -> None:
    configure(add_run_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv))
    set_threads(2)
    from recplug_flops_idf.backbone import encode_hidden, load_backbone
    from recplug_flops_idf.vocab import load_vocabulary

    data = load_scifact()
    vocab, backbone = load_vocabulary(), load_backbone()
    out = cache_root()
    qpath = out / "queries_dense.npy"
    if not qpath.exists():
        with Timer("queries backbone"):
            q = encode_hidden(data.query_texts, vocab.tokenizer, backbone, WINDOW, keep_hidden=False, bf16=native_bf16())
        np.save(qpath, q.dense)
    cpath = out / CORPUS_STATES
    if not cpath.exists():
        with Timer("corpus backbone") as timer:
            states = encode_hidden(data.doc_texts, vocab.tokenizer, backbone, WINDOW, bf16=native_bf16(), progress=True)
        states.save(cpath)
        (out / "corpus_backbone_seconds.txt").write_text(f"{timer.seconds:.1f}\n")
    print("cached in", out)


if __name__ == "__main__":
    main()
