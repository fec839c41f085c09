"""Chamfer (MaxSim) scoring of FDE candidates, a bfloat16 or int8 first pass over them, and query ball carving
(the exact kernel is :func:`recplug_eval.chamfer_scores`).

The first passes use bfloat16 / int8 GEMMs only where the CPU has instructions for them
(:func:`recplug_eval.native_bf16`: AVX512-BF16 or AMX; :func:`recplug_eval.native_int8`: VNNI or AMX); elsewhere (e.g. AVX2 only) those GEMMs are an order of magnitude slower than float32 ones, so
the compact copy is decoded to float32 block by block and scored with float32 GEMMs (same scores, the
memory of the compact copy).

``Chamfer(Q, P) = sum_{q in Q} max_{p in P} <q, p>``. Shapes: a query is ``L x D``; documents are a
:class:`recplug.multivector.MultiVectorBatch` (``T x D`` values + ``N + 1`` offsets).
"""

from __future__ import annotations

import functools
import warnings
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from recplug_eval import chamfer_scores, native_bf16, native_int8


@functools.cache
def _threadpools():  # one scan of the loaded libraries per process (a scan costs far more than a limit)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_blas_thread() -> AbstractContextManager:
    """Limit numpy's BLAS to one thread for the block. On a machine with few cores, BLAS worker threads
    still spinning after a small GEMM (the query FDE) slow the torch GEMMs of :class:`BFloat16Screen`
    (seen on 2 cores in ad-hoc timings, not a committed benchmark)."""
    return _threadpools().limit(limits=1, user_api="blas")


def chamfer_candidates(
    query: np.ndarray, values: np.ndarray, offsets: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """Chamfer scores of one ``L x D`` query against the sets at positions ``candidates`` (``(c,)``, all
    valid) of ``values`` / ``offsets``: float32 ``(c,)``. float32 values: one small GEMM per candidate on a
    view of its vectors (no gathered copy, which cost more than the GEMMs);
    float16 values: gathered into one block and converted block by block."""
    starts, stops = offsets[candidates].tolist(), offsets[candidates + 1].tolist()
    if values.dtype != np.float32:
        block = np.concatenate([values[a:b] for a, b in zip(starts, stops, strict=True)])
        return chamfer_scores(query, block, np.concatenate([[0], np.cumsum(np.subtract(stops, starts))]))
    query_t = np.ascontiguousarray(np.asarray(query, np.float32).T)  # D x L
    scores = np.empty(len(starts), np.float32)
    for j, (a, b) in enumerate(zip(starts, stops, strict=True)):
        scores[j] = (values[a:b] @ query_t).max(axis=0).sum()
    return scores


class CandidateScreen:
    """Chamfer scores of many candidates from stored float16 vectors: a fast approximate first pass
    (:meth:`approximate`, in a subclass) and an exact float32 pass for the few best (:meth:`exact`).

    The candidates' vectors are gathered, a block of :data:`ROWS` rows at a time, into buffers that are
    reused across queries (fresh large arrays cost page faults that outweigh the GEMMs) and scored with
    one GEMM per block.

    Args:
        values: ``T x D`` float16 stored vectors (kept by reference); ``offsets``: ``N + 1`` set boundaries.
        native: run the first pass's GEMMs in the compact dtype (True) or decode each block to float32
            first (False); None: native where :meth:`native_on_this_cpu` says so.
    """

    ROWS = 8192
    @staticmethod
    def native_on_this_cpu() -> bool:
        """Whether this CPU has fast GEMMs in the first pass's dtype (:func:`recplug_eval.native_bf16` / :func:`recplug_eval.native_int8`)."""
        return False

    def __init__(self, values: np.ndarray, offsets: np.ndarray, native: bool | None = None) -> None:
        import torch

        self._torch = torch
        self.native = self.native_on_this_cpu() if native is None else bool(native)
        self.offsets = np.asarray(offsets, np.int64)
        with warnings.catch_warnings():  # a read-only memory-mapped store: only ever read (index_select), never written
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self._half = torch.from_numpy(np.ascontiguousarray(values, np.float16))
        dimension = values.shape[1]
        self._rows_half = torch.zeros((self.ROWS, dimension), dtype=torch.float16)
        self._rows_f32 = torch.zeros((self.ROWS, dimension), dtype=torch.float32)
        self._sims = torch.zeros((self.ROWS, 64), dtype=torch.float32)

    def _held(self) -> tuple:
        """Tensors this screen holds beyond the float16 values (the index's own)."""
        return (self._rows_half, self._rows_f32, self._sims)

    @property
    def nbytes(self) -> int:
        """Bytes of the first pass's copy and the buffers (the float16 values are the index's own)."""
        return int(sum(t.numel() * t.element_size() for t in self._held()))

    def _blocks(self, candidates: np.ndarray):
        """Yield ``(first, last, heads, rows, index)`` per block of candidates that fits :data:`ROWS`
        (``index`` is None for one set longer than the buffer, scored in place from ``rows``)."""
        starts = self.offsets[candidates]
        lengths = self.offsets[candidates + 1] - starts
        ends = np.cumsum(lengths)
        first = 0
        while first < len(candidates):
            base = ends[first - 1] if first else 0
            last = max(int(np.searchsorted(ends, base + self.ROWS, side="right")), first + 1)
            block = lengths[first:last]
            heads = np.concatenate([[0], np.cumsum(block[:-1])])
            rows = int(block.sum())
            if rows > self.ROWS:
                yield first, last, heads, slice(int(starts[first]), int(starts[first]) + rows), None
            else:
                index = np.repeat(starts[first:last] - heads, block) + np.arange(rows)
                yield first, last, heads, rows, self._torch.from_numpy(index)
            first = last

    @staticmethod
    def _padded(query: np.ndarray) -> np.ndarray:
        """``query`` (``L x D``) padded with zero vectors to a multiple of 8 rows (each adds 0 to every
        score), so every first-pass GEMM of a block has one of few shapes and its kernel is reused."""
        padded = np.zeros((-(-query.shape[0] // 8) * 8, query.shape[1]), np.float32)
        padded[: query.shape[0]] = query
        return padded

    def approximate(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Approximate Chamfer scores (in the order of exact ones) of one ``L x D`` query against the sets
        ``candidates``: float32 ``(c,)``."""
        raise NotImplementedError

    def _decoded_sims(self, source: Any, staging: Any, index: Any, rows: int | slice, query_t: Any) -> np.ndarray:
        """float32 GEMM of ``query_t`` (``D x L`` float32) with the rows ``index`` of ``source`` (a compact
        copy), gathered into ``staging`` (a buffer of its dtype) and decoded into the float32 buffer: ``rows x L``
        (a view of a reused buffer). ``index`` None: ``rows`` is a slice of one set longer than the buffers."""
        if index is None:
            return (source[rows].float() @ query_t).numpy()
        torch = self._torch
        torch.index_select(source, 0, index, out=staging[:rows])
        self._rows_f32[:rows].copy_(staging[:rows])
        length = query_t.shape[1]
        if length > self._sims.shape[1]:
            return (self._rows_f32[:rows] @ query_t).numpy()
        torch.mm(self._rows_f32[:rows], query_t, out=self._sims[:rows, :length])
        return self._sims[:rows, :length].numpy()

    def _decoded_scores(self, source: Any, staging: Any, query_t: Any, candidates: np.ndarray) -> np.ndarray:
        """Chamfer scores of ``query_t`` (``D x L`` float32) against the sets ``candidates`` with their
        vectors decoded from ``source`` to float32 (see :meth:`_decoded_sims`): float32 ``(c,)``."""
        out = np.empty(len(candidates), np.float32)
        for first, last, heads, rows, index in self._blocks(candidates):
            sims = self._decoded_sims(source, staging, index, rows, query_t)
            out[first:last] = np.maximum.reduceat(sims, heads, axis=0).sum(axis=1)
        return out

    def exact(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """float32 Chamfer scores (as :func:`chamfer_candidates`) against the sets ``candidates``: ``(c,)``."""
        query_t = self._torch.from_numpy(np.ascontiguousarray(np.asarray(query, np.float32).T))  # D x L
        return self._decoded_scores(self._half, self._rows_half, query_t, candidates)


class BFloat16Screen(CandidateScreen):
    """A first pass with bfloat16 GEMMs over a bfloat16 copy of the vectors (the float16 copy's memory).
    bfloat16 scores carry about 1e-3 relative rounding. Without native bfloat16 GEMMs the bfloat16 rows and
    query are decoded to float32 (exactly) and multiplied in float32."""

    native_on_this_cpu = staticmethod(native_bf16)

    def __init__(self, values: np.ndarray, offsets: np.ndarray, native: bool | None = None) -> None:
        super().__init__(values, offsets, native)
        torch = self._torch
        self._bf16 = self._half.to(torch.bfloat16)
        self._rows_bf16 = torch.zeros((self.ROWS, values.shape[1]), dtype=torch.bfloat16)

    def _held(self) -> tuple:
        return (*super()._held(), self._bf16, self._rows_bf16)

    def approximate(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """bfloat16 Chamfer scores of one ``L x D`` query against the sets ``candidates``: float32 ``(c,)``."""
        torch = self._torch
        query_t = torch.from_numpy(self._padded(query)).to(torch.bfloat16).T.contiguous()  # D x L'
        if not self.native:
            return self._decoded_scores(self._bf16, self._rows_bf16, query_t.float(), candidates)
        out = np.empty(len(candidates), np.float32)
        for first, last, heads, rows, index in self._blocks(candidates):
            if index is None:  # one set longer than the buffer
                sims = self._bf16[rows] @ query_t
            else:
                torch.index_select(self._bf16, 0, index, out=self._rows_bf16[:rows])
                sims = (self._rows_bf16 @ query_t)[:rows]
            out[first:last] = np.maximum.reduceat(sims.float().numpy(), heads, axis=0).sum(axis=1)
        return out


class Int8Screen(CandidateScreen):
    """A first pass with int8 GEMMs (int32 sums, ``torch._int_mm``; VNNI on x86) over an int8 copy of the
    vectors (half the float16 copy's memory).

    Vector coordinate ``j`` is stored as ``round(x_j / s_j)`` with ``s_j = max |x_.j| / 127`` over the stored
    vectors; a query is multiplied by ``s`` and rounded with one scale of its own, so its tokens' inner
    products keep one common scale and their per-token maxima add up as Chamfer's do; the int32 sums,
    times that one scale, approximate the float scores (about 1e-2 relative). Without VNNI or AMX the codes
    are decoded to float32 and multiplied in float32, which gives the same integer sums while ``D <= 1040``
    (``|sum| <= D * 127**2 < 2**24``, exact in float32).
    """

    native_on_this_cpu = staticmethod(native_int8)

    def __init__(self, values: np.ndarray, offsets: np.ndarray, native: bool | None = None) -> None:
        super().__init__(values, offsets, native)
        torch = self._torch
        peak = np.abs(values).max(axis=0).astype(np.float32) if len(values) else np.ones(values.shape[1], np.float32)
        self._scale = np.maximum(peak, np.float32(1e-12)) / np.float32(127)  # (D,)
        codes = np.empty(values.shape, np.int8)
        for start in range(0, len(values), 1 << 18):  # in slices: no float32 copy of all the vectors
            part = values[start : start + (1 << 18)].astype(np.float32) / self._scale
            codes[start : start + (1 << 18)] = np.clip(np.rint(part), -127, 127)
        self._int8 = torch.from_numpy(codes)
        self._rows_int8 = torch.zeros((self.ROWS, values.shape[1]), dtype=torch.int8)

    def _held(self) -> tuple:
        return (*super()._held(), self._int8, self._rows_int8)

    def quantized_query(self, query: np.ndarray) -> tuple[np.ndarray, float]:
        """``D x L'`` int8 codes of ``query`` (``L x D``, padded to a multiple of 8 tokens) in the stored
        scale, and the factor that turns their int32 inner products with stored codes into float ones."""
        scaled = self._padded(query) * self._scale
        peak = float(np.abs(scaled).max())
        codes = np.rint(scaled * (127.0 / peak)) if peak > 0 else np.zeros_like(scaled)
        return np.ascontiguousarray(codes.T.astype(np.int8)), peak / 127.0

    def approximate(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """int8 Chamfer scores of one ``L x D`` query against the sets ``candidates``: float32 ``(c,)``."""
        torch = self._torch
        codes, factor = self.quantized_query(query)
        query_t = torch.from_numpy(codes)  # D x L'
        if not self.native:
            return self._decoded_scores(self._int8, self._rows_int8, query_t.float(), candidates) * np.float32(factor)
        out = np.empty(len(candidates), np.float32)
        for first, last, heads, rows, index in self._blocks(candidates):
            if index is None:  # one set longer than the buffer
                sims = torch._int_mm(self._int8[rows].contiguous(), query_t)
            else:
                torch.index_select(self._int8, 0, index, out=self._rows_int8[:rows])
                sims = torch._int_mm(self._rows_int8[:rows], query_t)
            out[first:last] = np.maximum.reduceat(sims.numpy(), heads, axis=0).sum(axis=1)
        return out * np.float32(factor)


def ball_carve(query: np.ndarray, tau: float = 0.7) -> np.ndarray:
    """Greedy ball carving of a query's vectors (MUVERA, Section 3): take the first unassigned vector,
    group every unassigned vector whose inner product with it is at least ``tau``, and replace the group
    by its sum. Returns ``L' x D`` float32 with ``L' <= L``; Chamfer with the result approximates Chamfer
    with ``query`` (exact when each group shares its best document vector) at ``L'/L`` of the cost."""
    query = np.asarray(query, np.float32)
    sims = query @ query.T
    unassigned = np.ones(query.shape[0], bool)
    groups = []
    for i in range(query.shape[0]):  # L <= a few dozen query tokens
        if not unassigned[i]:
            continue
        members = unassigned & (sims[i] >= tau)
        members[i] = True
        groups.append(query[members].sum(axis=0))
        unassigned &= ~members
    return np.stack(groups).astype(np.float32)


#: float32 ``rows x query tokens`` similarity blocks of :func:`chamfer_matrix` hold at most this many values
#: per worker (32 MiB), so a worker's block stays in the last-level cache's neighbourhood.
SIMS_PER_BLOCK = 1 << 23
#: document vectors per block of :func:`chamfer_matrix` at most (bounds the float32 copy of a block).
MAX_BLOCK_ROWS = 16384
#: query vectors scored against one document block at once at most.
MAX_QUERY_ROWS = 8192


def _document_blocks(offsets: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """``(first, stop)`` document ranges of about ``rows`` vectors each (a longer document is a block alone)."""
    n = offsets.shape[0] - 1
    blocks, first = [], 0
    while first < n:
        stop = int(np.searchsorted(offsets, offsets[first] + rows, side="right")) - 1
        stop = min(max(stop, first + 1), n)
        blocks.append((first, stop))
        first = stop
    return blocks


def chamfer_matrix(
    queries: Any, values: np.ndarray, offsets: np.ndarray, *, num_threads: int | None = None
) -> np.ndarray:
    """Exact Chamfer (MaxSim) scores of every query against every document: float32 ``Q x N``.

    ``queries`` is a :class:`recplug.multivector.MultiVectorBatch` (``Lq x D`` values, ``Q + 1`` offsets, no
    empty set); the documents are ``values`` (``T x D``, float16 or float32, e.g. memory-mapped) delimited by
    ``offsets`` (``N + 1``, no empty set). The queries' vectors are stacked into one ``D x Lq`` matrix (in
    chunks of at most :data:`MAX_QUERY_ROWS`); the documents are taken in blocks of whole documents, each
    block converted to float32 and multiplied with the stacked queries in one GEMM (``rows x Lq``; torch,
    whose float16 conversion is several times numpy's), reduced by a per-document max
    (``np.maximum.reduceat``) and a per-query sum (``np.add.reduceat``). Blocks run on ``num_threads``
    workers (None: every core), so one block's reduction overlaps another's GEMM.

    Example::

        >>> from recplug.multivector import MultiVectorBatch
        >>> docs = MultiVectorBatch.from_sets([np.eye(2), np.ones((1, 2))])
        >>> chamfer_matrix(MultiVectorBatch.from_sets([np.eye(2)]), docs.values, docs.offsets).tolist()
        [[2.0, 2.0]]
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    import torch

    n, q = offsets.shape[0] - 1, len(queries)
    out = np.empty((q, n), np.float32)
    if n == 0 or q == 0:
        return out
    workers = max(1, int(num_threads or os.cpu_count() or 1))
    query_values = np.asarray(queries.values, np.float32)
    query_offsets = np.asarray(queries.offsets, np.int64)
    for first_q, stop_q in _document_blocks(query_offsets, MAX_QUERY_ROWS):
        lo_q, hi_q = int(query_offsets[first_q]), int(query_offsets[stop_q])
        query_t = torch.from_numpy(np.ascontiguousarray(query_values[lo_q:hi_q].T))  # D x Lq
        heads = query_offsets[first_q:stop_q] - lo_q
        rows = min(MAX_BLOCK_ROWS, max(256, SIMS_PER_BLOCK // max(hi_q - lo_q, 1)))

        def score(block: tuple[int, int], query_t: Any = query_t, heads: np.ndarray = heads,
                  first_q: int = first_q, stop_q: int = stop_q) -> None:
            first, stop = block
            lo, hi = int(offsets[first]), int(offsets[stop])
            stored = values[lo:hi]
            rows = torch.from_numpy(stored if stored.flags.writeable else np.array(stored))  # read-only (mmap): a copy
            sims = torch.mm(rows.float(), query_t).numpy()  # rows x Lq
            best = np.maximum.reduceat(sims, offsets[first:stop] - lo, axis=0)  # n_block x Lq
            out[first_q:stop_q, first:stop] = np.add.reduceat(best, heads, axis=1).T

        blocks = _document_blocks(np.asarray(offsets, np.int64), rows)
        if workers == 1 or len(blocks) == 1:
            for block in blocks:
                score(block)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(score, blocks))
    return out
