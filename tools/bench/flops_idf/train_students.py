"""Stage 3: train the sparse head with plain FLOPS and with IDF-aware FLOPS (same data, seed and lambda).

Usage: ``nice -n 10 .venv/bin/python -m tools.bench.flops_idf.train_students flops flops-idf``
Writes ``<cache>/flops_idf/head_<name>.pt`` and ``history_<name>.json``. ``--holdout N`` keeps the last
``N`` train queries out of training and reports their nDCG@10 (full-corpus retrieval), for choosing
settings without looking at the test split; its heads are written as ``head_<name>_holdout.pt``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from recplug_eval import native_bf16

from .caches import corpus_idf_cached, head_terms, load_examples
from .common import CORPUS_STATES, add_run_arguments, cache_root, configure, load_scifact, set_threads
from .scoring import sparse_metrics

STEPS, WARMUP, LAMBDA, BATCH, LR, BIAS_LR = 250, 100, 0.003, 8, 1e-5, 1e-3  # the committed students' setting
SKIP_SCALE, INIT_BIAS = 2.0, -3.5  # chosen on 100 held-out train queries (untrained head), see the README
LEXICAL_WEIGHT = 1.0  # weight of the head's lexical channel (recplug_flops_idf.lexical), chosen on the held-out train queries


def holdout_ndcg(head, states, data, idf, query_ids: list[str]) -> float:
    """nDCG@10 of ``query_ids`` (train queries kept out of training) over the whole corpus."""
    from recplug_flops_idf.doc_encoder import encode_hidden_states

    return sparse_metrics(encode_hidden_states(head, states, progress=True), data, idf, query_ids)["nDCG@10"]


def main(argv: list[str] | None = None) -> None:
    parser = add_run_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("names", nargs="*", default=["flops", "flops-idf"])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="T of the quadratic lambda warm-up")
    parser.add_argument("--lambda", dest="lam", type=float, default=LAMBDA)
    parser.add_argument("--batch", type=int, default=BATCH, help="queries per step")
    parser.add_argument("--lr", type=float, default=LR, help="learning rate of the decoder matrix")
    parser.add_argument("--bias-lr", type=float, default=BIAS_LR)
    parser.add_argument("--skip-scale", type=float, default=SKIP_SCALE, help="embedding skip of the head")
    parser.add_argument("--init-bias", type=float, default=INIT_BIAS)
    parser.add_argument("--transform", action="store_true", help="a trainable H x H map before the decoder")
    parser.add_argument("--lexical-weight", type=float, default=LEXICAL_WEIGHT,
                        help="weight of the head's lexical channel (BM25's document-side term weight)")
    parser.add_argument("--transform-lr", type=float, default=1e-4)
    parser.add_argument("--kl-weight", type=float, default=1.0, help="weight of the KL distillation loss")
    parser.add_argument("--contrastive-weight", type=float, default=1.0, help="weight of the InfoNCE loss")
    parser.add_argument("--holdout", type=int, default=0, help="train queries kept out (and scored) for tuning")
    parser.add_argument("--tag", default="", help="suffix of the written head and history files")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    configure(args)
    set_threads(args.threads)
    import recplug
    import torch
    from recplug_flops_idf.backbone import HiddenStates, load_backbone
    from recplug_flops_idf.doc_encoder import SparseHead
    from recplug_flops_idf.lexical import LexicalChannel, average_length
    from recplug_flops_idf.train import TrainConfig, train_head

    data, out = load_scifact(), cache_root()
    idf, terms = corpus_idf_cached(data.doc_texts), head_terms(data.doc_texts)
    states = HiddenStates.load(out / CORPUS_STATES)
    examples, query_ids = load_examples()
    held = query_ids[len(query_ids) - args.holdout :] if args.holdout else []
    examples = examples[: len(examples) - args.holdout]
    embeddings = load_backbone().embeddings.word_embeddings.weight
    pm = recplug.load_plugin_manager()
    suffix = ("_holdout" if args.holdout else "") + args.tag
    for name in args.names:
        torch.manual_seed(0)
        head = SparseHead(embeddings, terms, init_bias=args.init_bias, bf16=native_bf16(), skip_scale=args.skip_scale,
                          transform=args.transform, lexical=LexicalChannel(weight=args.lexical_weight))
        head.set_average_length(average_length(head.columns.numpy()[states.token_ids], len(states)))
        reg = pm.create("regularizer", name, weight=args.lam, warmup_steps=args.warmup)
        config = TrainConfig(steps=args.steps, queries_per_batch=args.batch, lr=args.lr, bias_lr=args.bias_lr,
                             transform_lr=args.transform_lr, kl_weight=args.kl_weight, contrastive_weight=args.contrastive_weight, log_every=25)
        start = time.perf_counter()
        history = train_head(head, states, examples, reg, idf, config, progress=True)
        seconds = time.perf_counter() - start
        head.save(out / f"head_{name}{suffix}.pt")
        record = {"regularizer": name, "lambda": args.lam, "skip_scale": args.skip_scale, "init_bias": args.init_bias, "transform": args.transform, "lexical_weight": args.lexical_weight, "warmup_steps": args.warmup, "config": asdict(config),
                  "candidates": len(examples[0].doc_rows), "train_seconds": seconds, "examples": len(examples),
                  "history": history}
        if held:
            record["holdout_queries"] = len(held)
            record["holdout_nDCG@10"] = holdout_ndcg(head, states, data, idf, held)
        (out / f"history_{name}{suffix}.json").write_text(json.dumps(record, indent=1))
        print(name, f"{seconds:.0f}s", history[-1], record.get("holdout_nDCG@10"), flush=True)


if __name__ == "__main__":
    main()
