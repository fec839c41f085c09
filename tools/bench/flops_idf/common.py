"""Shared pieces of the flops_idf benchmark: SciFact loading, the on-disk cache and where results go.

Every stage's ``main(argv)`` takes ``--out DIR`` (results folder, default: this folder) and ``--quick`` (a tiny
SciFact subset, :data:`QUICK`, with the stages' cache under ``DIR/cache``: the pipeline end to end in about a
minute, for ``nox -s bench``; never over the committed results) through :func:`add_run_arguments`.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

HERE = Path(__file__).resolve().parent
WINDOW = 512  # backbone tokens per window; documents are read whole, window after window
CORPUS_STATES = f"corpus_hidden_W{WINDOW}.npz"
HOLDOUT = 100  # train queries kept out of training for choosing settings (holdout.py, train_students.py --holdout)


@dataclass(frozen=True)
class QuickSubset:
    """The SciFact subset of ``--quick``: the first judged queries of each split, every document judged for
    them and a seeded sample of the others, ``documents`` in all, each cut to its first ``document_chars``
    characters; ``holdout`` train queries kept out."""

    train_queries: int = 30
    test_queries: int = 15
    documents: int = 150
    document_chars: int = 400
    holdout: int = 8


QUICK = QuickSubset()


@dataclass(frozen=True)
class RunSettings:
    """Where this process's stages write: ``out`` (results.*), and whether they read the quick subset."""

    out: Path = HERE
    quick: bool = False


_settings = RunSettings()


def add_run_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--out`` and ``--quick``, shared by every stage."""
    parser.add_argument("--out", type=Path, default=None,
                        help="folder of results.* (default: this folder; with --quick: required)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny SciFact subset, its caches under OUT/cache (a smoke run, not a measurement)")
    return parser


def configure(args: argparse.Namespace) -> RunSettings:
    """Apply ``--out`` / ``--quick`` for the stages run in this process."""
    global _settings
    if args.quick and args.out is None:
        raise SystemExit("--quick needs --out (its results must not overwrite the committed ones)")
    _settings = RunSettings(Path(args.out) if args.out is not None else HERE, bool(args.quick))
    _settings.out.mkdir(parents=True, exist_ok=True)
    return _settings


def results_dir() -> Path:
    """Folder of ``results*.json`` / ``results.md`` / the plot."""
    return _settings.out


def holdout_size() -> int:
    """Train queries kept out of training (the last of ``train_examples.npz``)."""
    return QUICK.holdout if _settings.quick else HOLDOUT


def cache_root() -> Path:
    if _settings.quick:
        path = _settings.out / "cache"
        path.mkdir(parents=True, exist_ok=True)
        return path
    try:
        from recplug_eval.paths import cache_dir
    except ImportError:  # recplug-eval not installed: same rule, computed here
        cache_dir = lambda: Path(os.environ.get("RECPLUG_CACHE_DIR", Path.home() / ".cache" / "recplug"))  # noqa: E731
    path = cache_dir() / "flops_idf"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class SciFact:
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, dict[str, int]]]  # split -> query -> doc -> relevance


def load_scifact() -> SciFact:
    from recplug_eval.datasets.beir import BeirDataset, default_scifact_path, document_texts

    ds = BeirDataset(default_scifact_path(), name="scifact")
    corpus, queries = ds.corpus(), ds.queries()
    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for split in ("train", "test"):
        table: dict[str, dict[str, int]] = {}
        for q, d, r in ds.qrels(split).select("query_id", "doc_id", "relevance").iter_rows():
            table.setdefault(q, {})[d] = int(r)
        qrels[split] = table
    data = SciFact(corpus["doc_id"].to_list(), document_texts(corpus), queries["query_id"].to_list(),
                   queries["text"].to_list(), qrels)
    return quick_subset(data) if _settings.quick else data


def quick_subset(data: SciFact, subset: QuickSubset = QUICK, seed: int = 0) -> SciFact:
    """:data:`QUICK`'s part of ``data``, corpus and queries in their original order."""
    qrow = {q: i for i, q in enumerate(data.query_ids)}
    judged_in = {split: sorted(data.qrels[split], key=lambda q: qrow[q]) for split in ("train", "test")}
    keep_q = {"train": judged_in["train"][: subset.train_queries], "test": judged_in["test"][: subset.test_queries]}
    qrels = {split: {q: data.qrels[split][q] for q in keep_q[split]} for split in keep_q}
    judged = {d for rels in qrels.values() for docs in rels.values() for d in docs}
    keep = np.array([d in judged for d in data.doc_ids])
    others = np.flatnonzero(~keep)
    extra = min(len(others), max(0, subset.documents - int(keep.sum())))
    keep[np.random.default_rng(seed).choice(others, size=extra, replace=False)] = True
    queries = set(keep_q["train"]) | set(keep_q["test"])
    q_keep = [i for i, q in enumerate(data.query_ids) if q in queries]
    return SciFact([d for d, k in zip(data.doc_ids, keep, strict=True) if k],
                   [t[: subset.document_chars] for t, k in zip(data.doc_texts, keep, strict=True) if k],
                   [data.query_ids[i] for i in q_keep], [data.query_texts[i] for i in q_keep], qrels)


def test_split(data: SciFact) -> tuple[dict[str, dict[str, int]], list[str], list[str]]:
    """Test qrels, the judged test query ids (queries-file order) and their texts."""
    qrels = data.qrels["test"]
    qrow = {q: i for i, q in enumerate(data.query_ids)}
    test_q = [q for q in data.query_ids if q in qrels]
    return qrels, test_q, [data.query_texts[qrow[q]] for q in test_q]


class Timer:
    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
        print(f"[{self.label}] {self.seconds:.1f} s", flush=True)


def set_threads(n: int = 2) -> None:
    import torch

    torch.set_num_threads(n)
    np.random.seed(0)
