"""Train, save and evaluate a sparse student on a BEIR folder, end to end (``recplug flops-idf-train``).

The pipeline of ``tools/bench/flops_idf`` on any BEIR folder with a ``train`` split:

1. one MiniLM backbone pass over the whole corpus and the train queries (:func:`corpus_states`, cached under
   ``<cache dir>/flops_idf`` keyed by the model's checksum, the window settings and the texts);
2. teachers (:func:`training_examples`): each train query's first judged document as the positive, hard
   negatives from the BM25 (bm25s, stemmed) and dense (MiniLM cosine) top 30, ensemble teacher scores
   (min-max per query, mean, x30);
3. the head (:class:`recplug_flops_idf.doc_encoder.SparseHead` over the corpus's terms, embedding skip and
   lexical channel) trained with a ``flops`` / ``flops-idf`` regularizer (:func:`recplug_flops_idf.train.train_head`);
4. the head saved compactly (:meth:`SparseHead.save` with ``compact=True``: only what training changed).

The defaults (:class:`StudentConfig`) are the benchmark's students' settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from recplug.errors import ConfigError

from recplug_flops_idf.backbone import HiddenStates

NEGATIVES_BM25, NEGATIVES_DENSE, POOL = 4, 3, 30  # hard negatives per query and the teachers' pool depth


@dataclass(frozen=True)
class StudentConfig:
    """Settings of a student (the benchmark's: 250 steps of 8 queries, plain or IDF-aware FLOPS).

    Attributes:
        regularizer: ``"flops-idf"`` (IDF-aware FLOPS) or ``"flops"``.
        steps, warmup, lam: optimizer steps, the regularizer's quadratic warm-up and its weight.
        batch: queries per step; lr / bias_lr: learning rates of the decoder matrix and the bias.
        skip_scale, init_bias, lexical_weight: the head's embedding skip, starting bias and lexical channel.
        window: backbone tokens per window; seed: sampling seed.
    """

    regularizer: str = "flops-idf"
    steps: int = 250
    warmup: int = 100
    lam: float = 0.003
    batch: int = 8
    lr: float = 1e-5
    bias_lr: float = 1e-3
    skip_scale: float = 2.0
    init_bias: float = -3.5
    lexical_weight: float = 1.0
    window: int = 256
    seed: int = 0


@dataclass
class BeirSplits:
    """A BEIR folder's corpus and the queries and judgements of its splits."""

    doc_ids: list[str]
    doc_texts: list[str]
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, dict[str, int]]]  # split -> query -> doc -> relevance


def load_beir(path: str | Path, train_split: str = "train") -> BeirSplits:
    """Read a BEIR folder; one :class:`ConfigError` line when it has no ``train_split``."""
    from recplug_eval import BeirDataset, document_texts

    ds = BeirDataset(path, name=Path(path).name or "beir")
    if train_split not in ds.splits:
        raise ConfigError(f"{path}: no qrels/{train_split}.tsv: a student trains on the {train_split!r} split "
                          f"(splits found: {', '.join(ds.splits)})")
    corpus = ds.corpus()
    queries = dict(ds.queries().select("query_id", "text").iter_rows())
    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for split in ds.splits:
        table: dict[str, dict[str, int]] = {}
        for q, d, r in ds.qrels(split).select("query_id", "doc_id", "relevance").iter_rows():
            table.setdefault(q, {})[d] = int(r)
        qrels[split] = table
    return BeirSplits(corpus["doc_id"].to_list(), document_texts(corpus), queries, qrels)


def states_cache_dir() -> Path:
    """``<recplug cache>/flops_idf``."""
    from recplug_eval import cache_dir

    return cache_dir() / "flops_idf"


def corpus_states(texts: list[str], vocab: Any, backbone: Any, window: int = 512, bf16: bool = False,
                  keep_hidden: bool = True, cache: Path | None = None, progress: bool = False,
                  model_dir: str | None = None) -> HiddenStates:
    """:func:`recplug_flops_idf.backbone.encode_hidden` of ``texts``, read from / written to ``cache`` (a folder;
    ``None``: no cache).

    With a cache and ``window`` equal to the shared sentence-transformers pass's length, the states are that pass's
    first windows (:func:`recplug_flops_idf.backbone.first_windows_of`) plus the later windows cached in ``cache``
    (:func:`recplug_flops_idf.backbone.cached_later_windows`), as the encoder's are: one backbone pass per corpus for
    training, the encoder's heads and the dense systems. Otherwise the whole states are cached in ``cache``, keyed
    by the model's checksum, ``window``, ``bf16``, ``keep_hidden`` and the texts."""
    from recplug_eval import cache_key

    from recplug_flops_idf.backbone import (
        cached_later_windows,
        encode_hidden,
        first_windows_of,
        model_checksum,
        shared_pass_length,
    )

    if cache is not None and keep_hidden and shared_pass_length(model_dir) == window:
        first = first_windows_of(texts, window, model_dir, bf16=bf16)
        later = cached_later_windows(texts, vocab.tokenizer, backbone, window, cache, bf16=bf16, model_dir=model_dir,
                                     progress=progress)
        return encode_hidden(texts, vocab.tokenizer, backbone, window, bf16=bf16, first_windows=first, later=later)
    path = None
    if cache is not None:
        key = cache_key({"model_sha256": model_checksum(model_dir), "window": window, "bf16": bf16,
                         "keep_hidden": keep_hidden, "first_window": "own"}, "hidden-states", texts)
        path = Path(cache) / f"states-{key}.npz"
        if path.exists():
            return HiddenStates.load(path)
    states = encode_hidden(texts, vocab.tokenizer, backbone, window, keep_hidden=keep_hidden, bf16=bf16,
                           progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        states.save(path)
    return states


def bm25_scorer(doc_texts: list[str]) -> Callable[[list[str]], np.ndarray]:
    """``score(queries) -> Q x N`` BM25 scores (bm25s, English stopwords, Snowball stemmer)."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(doc_texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)

    def score(queries: list[str]) -> np.ndarray:
        tokens = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False)
        return np.stack([retriever.get_scores(t) if t else np.zeros(len(doc_texts)) for t in tokens])

    return score


def training_examples(data: BeirSplits, dense_docs: np.ndarray, dense_queries: dict[str, np.ndarray],
                      vocab: Any, split: str = "train", seed: int = 0) -> tuple[list[Any], list[str]]:
    """One :class:`recplug_flops_idf.train.TrainingExample` per judged ``split`` query (queries-file order).

    Args:
        dense_docs: ``N x H`` unit MiniLM embeddings of the documents; dense_queries: query id -> ``H``.
    Returns:
        The examples (candidates: positive, then BM25 and dense hard negatives) and their query ids.
    """
    from recplug_flops_idf.distill import ensemble_scores
    from recplug_flops_idf.train import TrainingExample

    row_of = {d: i for i, d in enumerate(data.doc_ids)}
    qrels = data.qrels[split]
    order = {q: i for i, q in enumerate(data.queries)}
    train = sorted((q for q in qrels if any(r > 0 for r in qrels[q].values())), key=lambda q: order[q])
    bm25 = bm25_scorer(data.doc_texts)([data.queries[q] for q in train])
    rng = np.random.default_rng(seed)
    rows, s_bm25, s_dense, kept = [], [], [], []
    for q, scores in zip(train, bm25, strict=True):
        judged = {row_of[d] for d in qrels[q]}
        positive = row_of[next(d for d, r in qrels[q].items() if r > 0)]
        dense = dense_docs @ dense_queries[q]
        pools = [[r for r in np.argsort(-s)[:POOL] if r not in judged] for s in (scores, dense)]
        if len(pools[0]) < NEGATIVES_BM25 or len(pools[1]) < NEGATIVES_BM25 + NEGATIVES_DENSE:
            continue  # a corpus too small for this query's negatives
        negs = list(rng.choice(pools[0], NEGATIVES_BM25, replace=False))
        negs += list(rng.choice([r for r in pools[1] if r not in negs], NEGATIVES_DENSE, replace=False))
        cand = np.array([positive, *negs], np.int64)
        rows.append(cand)
        s_bm25.append(scores[cand])
        s_dense.append(dense[cand])
        kept.append(q)
    if not kept:
        raise ConfigError(f"no {split} query has {NEGATIVES_BM25 + NEGATIVES_DENSE} hard negatives in the corpus "
                          f"({len(data.doc_ids)} documents): the corpus is too small to train a student")
    teacher = ensemble_scores({"dense": np.array(s_dense), "bm25": np.array(s_bm25)}, scale=30.0)
    terms = [np.unique(t) for t in vocab.token_ids([data.queries[q] for q in kept])]
    examples = [TrainingExample(t, r, s) for t, r, s in zip(terms, rows, teacher, strict=True) if len(t)]
    return examples, [q for q, t in zip(kept, terms, strict=True) if len(t)]


def corpus_terms(token_ids: list[np.ndarray], vocab: Any) -> np.ndarray:
    """Sorted vocabulary ids that occur in the corpus (special tokens excluded): the terms a student trains."""
    from recplug_flops_idf.idf import document_frequencies

    df = document_frequencies(token_ids, vocab.size)
    return np.setdiff1d(np.flatnonzero(df > 0), vocab.special_ids)


def train_student(states: HiddenStates, examples: list[Any], idf: np.ndarray, terms: np.ndarray,
                  word_embeddings: Any, config: StudentConfig, bf16: bool = False, progress: bool = False,
                  say: Callable[[str], None] = print) -> tuple[Any, list[dict[str, float]], float]:
    """A head trained on ``examples``; prints a time estimate (one timed step) first.

    Returns:
        ``(head, history, seconds)``.
    """
    import copy

    import recplug
    import torch

    from recplug_flops_idf.doc_encoder import SparseHead
    from recplug_flops_idf.lexical import LexicalChannel, average_length
    from recplug_flops_idf.train import TrainConfig, train_head

    torch.manual_seed(config.seed)
    head = SparseHead(word_embeddings, terms, init_bias=config.init_bias, bf16=bf16, skip_scale=config.skip_scale,
                      lexical=LexicalChannel(weight=config.lexical_weight))
    head.set_average_length(average_length(head.columns.numpy()[states.token_ids], len(states)))
    pm = recplug.load_plugin_manager()
    train = TrainConfig(steps=config.steps, queries_per_batch=min(config.batch, len(examples)), lr=config.lr,
                        bias_lr=config.bias_lr, seed=config.seed, log_every=25)

    def regularizer() -> Any:
        return pm.create("regularizer", config.regularizer, weight=config.lam, warmup_steps=config.warmup)

    probe = TrainConfig(**{**train.__dict__, "steps": 1})
    start = time.perf_counter()
    train_head(copy.deepcopy(head), states, examples, regularizer(), idf, probe)
    per_step = time.perf_counter() - start
    say(f"training {config.regularizer} for {config.steps} steps of {train.queries_per_batch} queries: about "
        f"{per_step * config.steps / 60:.1f} min ({per_step:.2f} s per step, timed on one step, "
        f"{torch.get_num_threads()} threads)")
    start = time.perf_counter()
    history = train_head(head, states, examples, regularizer(), idf, train, progress=progress)
    return head, history, time.perf_counter() - start


def search_metrics(docs: Any, idf: np.ndarray, vocab: Any, data: BeirSplits, split: str,
                   measures: tuple[str, ...] = ("nDCG@10", "R@100")) -> dict[str, float]:
    """``measures`` of ``N x V`` document weights ``docs`` on ``split``'s judged queries (IDF-folded inverted index,
    whole corpus, top 100), plus ``doc_nnz`` (mean terms per document)."""
    from recplug_flops_idf.index import InvertedIndex
    from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder

    index = InvertedIndex(vocab.size, idf=idf, vocab_sha256=vocab.checksum)
    index.add(docs, np.arange(docs.shape[0]))
    qids = [q for q in data.queries if q in data.qrels[split]]
    result = index.search(InferenceFreeQueryEncoder(vocab, idf, "binary").encode([data.queries[q] for q in qids]), 100)
    run = {q: {data.doc_ids[p]: float(s) for p, s in zip(pos, sc, strict=True) if p >= 0 and np.isfinite(s)}
           for q, pos, sc in zip(qids, result.ids, result.scores, strict=True)}
    return {**run_metrics(run, data.qrels[split], measures), "doc_nnz": index.nnz / len(index)}


def bm25_metrics(data: BeirSplits, split: str, measures: tuple[str, ...] = ("nDCG@10", "R@100")) -> dict[str, float]:
    """``measures`` of BM25 (:func:`bm25_scorer`) on ``split``'s judged queries, top 100."""
    qids = [q for q in data.queries if q in data.qrels[split]]
    scores = bm25_scorer(data.doc_texts)([data.queries[q] for q in qids])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :100]
    run = {q: {data.doc_ids[p]: float(s[p]) for p in pos} for q, pos, s in zip(qids, top, scores, strict=True)}
    return run_metrics(run, data.qrels[split], measures)


def run_metrics(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]],
                measures: tuple[str, ...]) -> dict[str, float]:
    """Mean ``measures`` of ``run`` (query -> doc -> score) over the judged queries (recplug-eval's ir-measures)."""
    import polars as pl
    from recplug_eval import evaluate_run

    run_frame = pl.DataFrame([(q, d, s) for q, docs in run.items() for d, s in docs.items()],
                             schema=["query_id", "doc_id", "score"], orient="row")
    qrel_frame = pl.DataFrame([(q, d, r) for q, docs in qrels.items() for d, r in docs.items()],
                              schema=["query_id", "doc_id", "relevance"], orient="row")
    return evaluate_run(qrel_frame, run_frame, list(measures)).aggregate
