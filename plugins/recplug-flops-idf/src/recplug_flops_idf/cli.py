"""``recplug flops-idf-train``: train, save and evaluate a sparse student on a BEIR folder (argparse; heavy imports
happen in ``run``).

Example::

    recplug flops-idf-train /data/nfcorpus --out out/nfcorpus-student        # train split -> head.pt, test metrics
    recplug eval --dataset beir --dataset-config path=/data/nfcorpus --encoder inference-free-sparse \\
                 --encoder-config head_path=out/nfcorpus-student/head.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
from recplug.records import CommandSpec

from recplug_flops_idf.student import StudentConfig

TRAIN_HELP = ("train the inference-free sparse student (MiniLM + MLM head) on a BEIR folder's train split with "
              "dense + BM25 teachers, save the head and report its metrics next to BM25")


def _configure_train(parser: argparse.ArgumentParser) -> None:
    from recplug_eval import positive_int

    defaults = StudentConfig()
    parser.description = TRAIN_HELP
    parser.add_argument("folder", nargs="?", default=None,
                        help="BEIR folder with qrels/train.tsv (default: the shared SciFact)")
    parser.add_argument("--out", default="out/flops-idf-student", help="output folder (head.pt, student.json)")
    parser.add_argument("--regularizer", choices=("flops-idf", "flops"), default=defaults.regularizer)
    parser.add_argument("--steps", type=positive_int, default=defaults.steps, help="optimizer steps")
    parser.add_argument("--batch", type=positive_int, default=defaults.batch, help="queries per step")
    parser.add_argument("--lambda", dest="lam", type=float, default=defaults.lam, help="regularizer weight")
    parser.add_argument("--warmup", type=positive_int, default=defaults.warmup, help="steps of the lambda warm-up")
    parser.add_argument("--lexical-weight", type=float, default=defaults.lexical_weight,
                        help="weight of the head's lexical channel (BM25's document-side term weight)")
    parser.add_argument("--window", type=positive_int, default=defaults.window,
                        help="backbone tokens per window, [CLS] and [SEP] included (default: %(default)s, MiniLM's "
                        "sentence length, so the first window is the dense encoder's cached pass)")
    parser.add_argument("--train-split", default="train", help="qrels split to train on (default: train)")
    parser.add_argument("--eval-split", default="test", help="qrels split to evaluate on (default: test; "
                        "skipped when the folder has none)")
    parser.add_argument("--no-eval", action="store_true", help="skip the evaluation (a full-vocabulary head pass "
                        "over the corpus: about as long as the MiniLM pass on a CPU)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--full-head", action="store_true",
                        help="save every trained parameter in float32 (default: only what training changed)")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_train(args: argparse.Namespace, pm: Any) -> int:
    """The pipeline of :mod:`recplug_flops_idf.student`; writes ``head.pt`` and ``student.json`` in ``--out``."""
    from recplug.errors import ConfigError
    from recplug.fileio import atomic_write_json, sha256_file
    from recplug_eval import make_output_dir

    config = StudentConfig(**{f.name: getattr(args, f.name) for f in fields(StudentConfig) if hasattr(args, f.name)})
    if args.lexical_weight < 0:
        raise ConfigError(f"--lexical-weight must be >= 0, got {args.lexical_weight}")
    start = time.perf_counter()
    import torch
    from recplug_eval import default_scifact_path, native_bf16

    from recplug_flops_idf.backbone import load_backbone
    from recplug_flops_idf.doc_encoder import encode_hidden_states, load_head
    from recplug_flops_idf.idf import corpus_idf
    from recplug_flops_idf.student import (
        bm25_metrics,
        corpus_states,
        corpus_terms,
        load_beir,
        search_metrics,
        states_cache_dir,
        train_student,
        training_examples,
    )
    from recplug_flops_idf.vocab import load_vocabulary

    folder = Path(args.folder) if args.folder else default_scifact_path()
    data = load_beir(folder, args.train_split)  # one line when there is no train split
    if args.eval_split == args.train_split:
        raise ConfigError("--eval-split must differ from --train-split (the student would be scored on its training "
                          "queries)")
    out = make_output_dir(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16 = native_bf16()
    vocab, backbone = load_vocabulary(), load_backbone()
    train_q = [q for q in data.queries if q in data.qrels[args.train_split]]
    _say(f"{folder}: {len(data.doc_ids)} documents, {len(train_q)} {args.train_split} queries; MiniLM pass over the "
         f"corpus (cached in {states_cache_dir()}), {torch.get_num_threads()} threads, bf16 {bf16}")
    clock = time.perf_counter()
    states = corpus_states(data.doc_texts, vocab, backbone, config.window, bf16, cache=states_cache_dir(),
                           progress=True)
    states_seconds = time.perf_counter() - clock
    queries = corpus_states([data.queries[q] for q in train_q], vocab, backbone, config.window, bf16,
                            keep_hidden=False, cache=states_cache_dir())
    examples, _ = training_examples(data, states.dense, dict(zip(train_q, queries.dense, strict=True)), vocab,
                                    args.train_split, config.seed)
    token_ids = vocab.token_ids(data.doc_texts)
    idf = corpus_idf(token_ids, vocab.size)
    embeddings = backbone.embeddings.word_embeddings.weight
    _say(f"{len(examples)} training examples ({len(examples[0].doc_rows)} candidates each)")
    head, history, seconds = train_student(states, examples, idf, corpus_terms(token_ids, vocab), embeddings, config,
                                           bf16=bf16, progress=True, say=_say)
    head_path = out / "head.pt"
    head.save(head_path, compact=not args.full_head)
    record: dict[str, Any] = {
        "folder": str(folder), "documents": len(data.doc_ids), "train_split": args.train_split,
        "examples": len(examples), "config": asdict(config), "train_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(), "bf16": bf16,
        "corpus_pass_seconds": round(states_seconds, 1), "positions": int(states.offsets[-1]), "head": head_path.name,
        "head_bytes": head_path.stat().st_size, "head_sha256": sha256_file(head_path), "history": history,
    }
    if args.no_eval:
        _say("evaluation skipped (--no-eval)")
    elif args.eval_split in data.qrels:
        full = load_head(head_path, embeddings, bf16=bf16, term_ids=np.setdiff1d(np.arange(vocab.size),
                                                                                 vocab.special_ids))
        clock = time.perf_counter()
        docs = encode_hidden_states(full, states, progress=True)
        record["eval_head_pass_seconds"] = round(time.perf_counter() - clock, 1)
        record["eval_split"] = args.eval_split
        record["metrics"] = {"student": search_metrics(docs, idf, vocab, data, args.eval_split),
                             "bm25": bm25_metrics(data, args.eval_split)}
        for name, values in record["metrics"].items():
            _say(f"{args.eval_split} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    else:
        _say(f"{folder}: no qrels/{args.eval_split}.tsv: evaluation skipped")
    record["wall_seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_json(out / "student.json", record)
    _say(f"wrote {head_path} ({record['head_bytes'] / 1e6:.1f} MB) and {out / 'student.json'}; use it with "
         f"--encoder inference-free-sparse --encoder-config head_path={head_path}")
    return 0


def command_specs() -> list[CommandSpec]:
    """The sub-commands of recplug-flops-idf."""
    return [CommandSpec("flops-idf-train", TRAIN_HELP, _configure_train, _run_train)]
