"""WARP (``xtr-warp-rs``, the Rust engine PyLate uses as its WARP backend) over the same token embeddings, for the
scale benchmark: build once, then search one query at a time at a few WARP settings.

``xtr-warp-rs`` 2.1.0.2110 requires torch 2.11 and its extension links ``libc10_cuda.so``, so it cannot share this
project's CPU torch 2.13: it runs in its own virtual environment, ``.venv-warp`` (``requirements-warp.txt``: torch
2.11.0 as the registry serves it, a CUDA build that also runs on CPU), made by :func:`warp_python` when missing.
This file is both sides: :func:`run_warp` (the benchmark's side, numpy only) writes the documents and queries to a
folder and runs this file as a script with the WARP environment's interpreter (:func:`worker`, numpy + torch 2.11 +
``xtr_warp``), which writes its results back to the folder.

The exchange folder: ``documents.npy`` (``T x D`` float16 token vectors) with ``documents.doclens.npy`` (WARP's
on-disk embedding source reads exactly this pair), ``queries.npy`` / ``queries.offsets.npy`` and ``settings.json``;
the worker writes ``results.npz`` (per setting, ``Q x k`` document positions and scores) and ``results.json``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-warp.txt"
#: (label, ``XTRWarp.search`` settings): WARP's own choice from the index's density (its defaults), then deeper
#: probing for recall (``nprobe``: centroids probed per query token; ``bound``: centroids scored before that
#: choice, 8 per probe as WARP's own heuristic sets it).
SEARCH_SETTINGS: list[tuple[str, dict[str, int]]] = [
    ("WARP defaults", {}),
    *[(f"nprobe {n}", {"nprobe": n, "bound": 8 * n}) for n in (16, 32, 64, 128, 256)],
]


@dataclass
class WarpRun:
    """One WARP setting's output: ``Q x k`` positions into the document list (-1: none), scores, and the
    milliseconds of each one-query search."""

    label: str
    settings: dict[str, int]
    positions: np.ndarray
    scores: np.ndarray
    single_ms: list[float]


def warp_python(venv: Path) -> Path:
    """The WARP environment's interpreter; the environment is made (``requirements-warp.txt``) when missing."""
    from tools.bench.muvera.fde_peers import peers_python

    return peers_python(venv, REQUIREMENTS)


def run_warp(values: np.ndarray, offsets: np.ndarray, queries: list[np.ndarray], k: int, threads: int,
             folder: Path, venv: Path) -> tuple[float, int, int, list[WarpRun], str]:
    """Build a WARP index over the documents (``values``: ``T x D`` token vectors, ``offsets``: ``N + 1``) in
    ``folder`` and search ``queries`` (``L_q x D`` each) one at a time at every :data:`SEARCH_SETTINGS`, with
    ``threads`` threads. Returns (build seconds, index bytes on disk, the worker's peak resident bytes, runs,
    xtr-warp-rs version)."""
    from recplug.fileio import atomic_write_json, atomic_writer

    python = warp_python(venv)
    folder.mkdir(parents=True, exist_ok=True)
    stored = np.lib.format.open_memmap(folder / "documents.npy.part", mode="w+", dtype=np.float16,
                                       shape=(int(offsets[-1] - offsets[0]), values.shape[1]))
    step = 1 << 20
    for start in range(0, stored.shape[0], step):  # in blocks: the source may be a memory-mapped sample
        stored[start:start + step] = values[offsets[0] + start:offsets[0] + start + step]
    stored.flush()
    del stored
    os.replace(folder / "documents.npy.part", folder / "documents.npy")
    arrays = {"documents.doclens.npy": np.diff(offsets).astype(np.int64),
              "queries.npy": np.concatenate(queries).astype(np.float32),
              "queries.offsets.npy": np.concatenate([[0], np.cumsum([len(q) for q in queries])]).astype(np.int64)}
    for name, array in arrays.items():
        with atomic_writer(folder / name) as handle:
            np.save(handle, array, allow_pickle=False)
    atomic_write_json(folder / "settings.json", {"k": k, "threads": threads, "search": SEARCH_SETTINGS})
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "RAYON_NUM_THREADS": str(threads)}
    subprocess.run([str(python), str(Path(__file__).resolve()), str(folder)], check=True, env=env)
    report = json.loads((folder / "results.json").read_text())
    with np.load(folder / "results.npz", allow_pickle=False) as found:
        runs = [WarpRun(label, dict(settings), found[f"positions{i}"], found[f"scores{i}"], report["single_ms"][i])
                for i, (label, settings) in enumerate(report["search"])]
    return report["build_s"], report["disk_bytes"], report["peak_rss_bytes"], runs, report["version"]


def worker(folder: Path) -> None:
    """The WARP side (run with ``.venv-warp``'s interpreter): build, load memory-mapped, search, write results."""
    import logging
    import resource
    import shutil
    from importlib import metadata

    import torch
    from xtr_warp import XTRWarp

    logging.getLogger("xtr_warp").setLevel(logging.ERROR)
    settings = json.loads((folder / "settings.json").read_text())
    torch.set_num_threads(settings["threads"])
    source, index_folder = folder / "source", folder / "index"
    shutil.rmtree(source, ignore_errors=True)
    shutil.rmtree(index_folder, ignore_errors=True)
    source.mkdir()
    for name in ("documents.npy", "documents.doclens.npy"):  # WARP reads every .npy of its source folder
        os.link(folder / name, source / name)
    values, offsets = np.load(folder / "queries.npy"), np.load(folder / "queries.offsets.npy")
    queries = [torch.from_numpy(values[a:b]) for a, b in itertools.pairwise(offsets)]
    k = settings["k"]
    started = time.perf_counter()
    index = XTRWarp(str(index_folder))
    # WARP fits its residual codec on a token sample with torch.quantile, which refuses more than 2**24 values
    # (its default sample of 1M tokens fails from about 10k passages of MiniLM's 384 dimensions): cap the sample
    index.create(str(source), device="cpu", show_progress=False,
                 codec_sample_max_tokens=min(1_000_000, (1 << 24) // int(values.shape[1]) - 1))
    build_s = time.perf_counter() - started
    disk = sum(p.stat().st_size for p in index_folder.rglob("*") if p.is_file())
    index.load(device="cpu", mmap=True)
    arrays, single_ms = {}, []
    for i, (_label, search) in enumerate(settings["search"]):
        index.search(queries[0], top_k=k, num_threads=settings["threads"], show_progress=False, **search)  # warm-up
        positions = np.full((len(queries), k), -1, np.int64)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        elapsed = []
        for q, query in enumerate(queries):
            started = time.perf_counter()
            found = index.search(query, top_k=k, num_threads=settings["threads"], show_progress=False, **search)[0]
            elapsed.append(1000 * (time.perf_counter() - started))
            positions[q, : len(found)] = [pid for pid, _ in found]
            scores[q, : len(found)] = [score for _, score in found]
        arrays[f"positions{i}"], arrays[f"scores{i}"] = positions, scores
        single_ms.append(elapsed)
    # written whole beside their targets and renamed, by hand: recplug (and its atomic writer) is not installed here
    with open(folder / "results.npz.part", "wb") as handle:
        np.savez(handle, **arrays)
    (folder / "results.json.part").write_text(json.dumps({
        "build_s": build_s, "disk_bytes": disk, "single_ms": single_ms, "search": settings["search"],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "version": metadata.version("xtr-warp-rs"), "torch": torch.__version__}))
    for name in ("results.npz", "results.json"):
        os.replace(folder / f"{name}.part", folder / name)
    shutil.rmtree(source)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
