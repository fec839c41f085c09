"""What encoding the whole corpus costs the sparse encoder, per part: the MiniLM backbone and the full-vocabulary head.

Times both parts on a seeded sample of SciFact documents (whole documents, 512-token windows, float32 unless the
CPU runs bfloat16 natively) and extrapolates to every position of the corpus (its WordPiece tokens plus [CLS] and
[SEP] of each window). Prints one line; on a shared machine the load inflates both parts alike, so their ratio is
the steadier number.
Run: ``.venv/bin/python -m tools.bench.flops_idf.encode_cost --docs 60 --threads 1``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .common import WINDOW, add_run_arguments, configure, load_scifact, set_threads


def main(argv: list[str] | None = None) -> None:
    parser = add_run_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--docs", type=int, default=60, help="documents in the timed sample")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    configure(args)
    set_threads(args.threads)
    from recplug_eval import cpu_model, native_bf16
    from recplug_flops_idf.backbone import encode_hidden
    from recplug_flops_idf.doc_encoder import encode_hidden_states
    from recplug_flops_idf.encoder import InferenceFreeSparseEncoder

    texts = load_scifact().doc_texts
    sample = [texts[i] for i in np.random.default_rng(0).choice(len(texts), args.docs, replace=False)]
    encoder = InferenceFreeSparseEncoder(lexical_weight=1.0, cache=False)
    model = encoder.model()
    step = WINDOW - 2
    positions = sum(len(ids) + 2 * max(1, -(-len(ids) // step)) for ids in encoder.vocab.token_ids(texts))
    start = time.perf_counter()
    states = encode_hidden(sample, encoder.vocab.tokenizer, model.bert, WINDOW, bf16=native_bf16())
    backbone = time.perf_counter() - start
    start = time.perf_counter()
    encode_hidden_states(model.head, states, lexical=False)
    head = time.perf_counter() - start
    sampled = int(states.offsets[-1])
    print(f"{cpu_model()}, {args.threads} thread(s), bf16 {native_bf16()}: {args.docs} documents, {sampled} positions: "
          f"backbone {1e3 * backbone / sampled:.2f} ms/position, head ({len(model.head.term_ids)} terms) "
          f"{1e3 * head / sampled:.2f} ms/position (head/backbone {head / backbone:.2f}); corpus {positions} positions "
          f"-> backbone {backbone / sampled * positions / 60:.1f} min + head {head / sampled * positions / 60:.1f} min",
          flush=True)


if __name__ == "__main__":
    main()
