"""Shared pieces of the flops_idf benchmark: SciFact loading and the on-disk cache."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

WINDOW = 512  # backbone tokens per window; documents are read whole, window after window
CORPUS_STATES = f"corpus_hidden_W{WINDOW}.npz"


def cache_root() -> Path:
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
    return SciFact(corpus["doc_id"].to_list(), document_texts(corpus), queries["query_id"].to_list(),
                   queries["text"].to_list(), qrels)


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
