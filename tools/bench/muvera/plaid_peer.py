"""PLAID (PyLate's Stanford backend, ``PLAID(use_fast=False)``) over the same token embeddings, for the
MUVERA benchmark: build once, search at a few PLAID settings, one query at a time (PyLate's API).

PyLate 1.6.0 pins older sentence-transformers / transformers and a torch-bound ``fast-plaid``; its PLAID
index needs none of those with ``use_fast=False``, so the benchmark installs it without dependencies:

    .venv/bin/pip install --no-deps -r tools/bench/muvera/requirements-plaid.txt

The first search compiles PLAID's C++ kernels with ninja (cached under ``~/.cache/torch_extensions``); a
warm-up query keeps that out of the timings.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

#: (label, PLAID search settings): PyLate's defaults, then ColBERT's own choices for k <= 10 and k <= 100.
SEARCH_SETTINGS: list[tuple[str, dict]] = [
    ("PyLate defaults", {"ncells": 8, "centroid_score_threshold": 0.35, "ndocs": 8192}),
    ("ColBERT k<=100", {"ncells": 2, "centroid_score_threshold": 0.45, "ndocs": 1024}),
    ("ColBERT k<=10", {"ncells": 1, "centroid_score_threshold": 0.5, "ndocs": 256}),
]
INSTALL_HINT = "PLAID needs PyLate: `.venv/bin/pip install --no-deps -r tools/bench/muvera/requirements-plaid.txt`"


@dataclass
class PlaidRun:
    """One PLAID setting's output: ``Q x k`` positions into the document list (-1: none) and scores."""

    label: str
    settings: dict
    positions: np.ndarray
    scores: np.ndarray
    latency_ms: float
    latency_k10_ms: float
    #: milliseconds of each one-query search at depth ``k`` (their mean is ``latency_ms``)
    single_ms: list[float]


def pylate_version() -> str:
    try:
        return metadata.version("pylate")
    except metadata.PackageNotFoundError as exc:
        raise ImportError(INSTALL_HINT) from exc


def run_plaid(
    doc_sets: list[np.ndarray], query_sets: list[np.ndarray], k: int, nbits: int = 4
) -> tuple[float, int, list[PlaidRun]]:
    """Build a PLAID index over ``doc_sets`` (``L_i x D`` float32) and search ``query_sets`` at every
    :data:`SEARCH_SETTINGS`. Returns (build seconds, index bytes on disk, runs)."""
    pylate_version()
    from pylate import indexes

    logging.getLogger("pylate").setLevel(logging.WARNING)
    dim = int(doc_sets[0].shape[1])
    with tempfile.TemporaryDirectory(prefix="recplug-plaid-") as folder:
        started = time.perf_counter()
        index = indexes.PLAID(
            index_folder=folder, index_name="scifact", override=True, use_fast=False, embedding_size=dim, nbits=nbits
        )
        index.add_documents(documents_ids=[str(i) for i in range(len(doc_sets))], documents_embeddings=doc_sets)
        build_s = time.perf_counter() - started
        disk = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
        runs = []
        for label, settings in SEARCH_SETTINGS:
            searcher = indexes.PLAID(
                index_folder=folder,
                index_name="scifact",
                override=False,
                use_fast=False,
                embedding_size=dim,
                nbits=nbits,
                **settings,
            )
            runs.append(_search(label, settings, lambda qs, s=searcher, k=k: s(qs, k=k), query_sets, k))
    return build_s, disk, runs


def _search(label: str, settings: dict, search: Callable, query_sets: list[np.ndarray], k: int) -> PlaidRun:
    """Search ``query_sets`` one at a time at depth ``k`` (results and latency), then time depth 10 alone."""
    search(query_sets[:1])  # warm-up: compiles / loads PLAID's C++ extensions
    positions = np.full((len(query_sets), k), -1, np.int64)
    scores = np.full((len(query_sets), k), -np.inf, np.float32)
    results, single_ms = [], []
    for q in query_sets:
        started = time.perf_counter()
        results.append(search([q])[0])
        single_ms.append((time.perf_counter() - started) * 1000)
    latency_ms = float(np.mean(single_ms))
    started = time.perf_counter()
    for q in query_sets:
        search([q], k=10)
    latency_k10_ms = (time.perf_counter() - started) / len(query_sets) * 1000
    for i, found in enumerate(results):
        positions[i, : len(found)] = [int(r["id"]) for r in found]
        scores[i, : len(found)] = [float(r["score"]) for r in found]
    return PlaidRun(label, settings, positions, scores, latency_ms, latency_k10_ms, single_ms)
