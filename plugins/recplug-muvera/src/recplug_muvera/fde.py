"""Fixed dimensional encodings (MUVERA, Dhulipala et al. 2024), batched over ragged sets.

Faithful to Google's C++ reference ``GenerateFixedDimensionalEncoding`` (google/graph-mining,
``sketching/point_cloud/fixed_dimensional_encoding.cc``). For each repetition ``r``:

1. SimHash: ``sketch = X @ S_r`` (``T x k_sim``); point ``t`` gets one sign bit per hyperplane
   (``sketch > 0``), appended as the reference's ``AppendToGrayCode`` does: the partition index is the
   binary number whose bit ``i`` (most significant first) is the XOR of sign bits ``0..i``.
2. Projection: identity, or ``X @ A_r`` with the unscaled AMS sketch ``A_r`` (one +-1 per input coordinate).
3. Each point's projection is added into its partition's block of width ``block``;
   ``AVERAGE`` divides each non-empty block by its size (``DEFAULT_SUM`` keeps the sum).
4. ``fill_empty_partitions`` (``AVERAGE`` only): an empty block ``p`` takes the projection of the point
   whose sign bits are nearest in Hamming distance to ``p ^ (p >> 1)`` (the reference's
   ``DistanceToSimHashPartition``), ties to the lowest point index.

The FDE is the concatenation over repetitions (``R * 2**k_sim * block`` floats), optionally
count-sketched to ``final_projection_dimension`` (unscaled, seeded with ``seed``).

Shapes: ``N`` sets, ``T`` vectors in all, ``D`` input dimension, ``R`` repetitions, ``P = 2**k_sim``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from recplug.errors import ConfigError, InvalidInputError
from recplug.memory import check_fits
from recplug.multivector import MultiVectorBatch

from recplug_muvera.config import FDEConfig
from recplug_muvera.matrices import FDEMatrices, draw_matrices

#: Vectors processed per chunk (bounds the ``T x R x block`` intermediate).
CHUNK_VECTORS = 32768
#: Raw FDE floats per chunk (bounds the ``n x R*P*block`` intermediate before a final projection).
CHUNK_FLOATS = 1 << 25
def setup_bytes(config: FDEConfig) -> int:
    """Bytes an encoder of ``config`` holds before encoding anything: the SimHash and AMS matrices
    (float32, ``R x D x k_sim`` and ``R x D x d_proj``, also stacked), the count sketch (int64 index and
    float32 sign per raw coordinate) and the partition patterns."""
    r, d, k = config.num_repetitions, config.dimension, config.num_simhash_projections
    ams = r * d * config.block_dimension if config.projection_type == "AMS_SKETCH" else 0
    sketch = 12 * config.raw_dimension if config.final_projection_dimension is not None else 0
    return 2 * 4 * (r * d * k + ams) + sketch + 4 * config.num_partitions


def encoding_bytes(config: FDEConfig, vectors: int, sets: int) -> int:
    """Peak bytes of encoding one chunk of ``vectors`` points in ``sets`` sets: the raw FDEs, the sign
    patterns and projections of every (point, repetition), the final projection's output."""
    r, block, k = config.num_repetitions, config.block_dimension, config.num_simhash_projections
    per_point = r * (8 * block + 4 * k + 3 * 8)  # projected + scatter copy, sketch bits, codes/partition/keys
    return sets * (8 * config.raw_dimension + 4 * config.output_dimension) + vectors * per_point


def check_setup(config: FDEConfig) -> None:
    """Refuse, before drawing anything, an encoder whose matrices (plus the FDE of a single one-vector set)
    are larger than the memory available (:class:`FDEConfig` has already checked the ranges)."""
    check_fits(
        setup_bytes(config) + encoding_bytes(config, 1, 1),
        f"FDE encoder (R={config.num_repetitions}, k_sim={config.num_simhash_projections}, "
        f"D={config.dimension}, block={config.block_dimension}: {config.raw_dimension} raw floats per set)",
    )


def as_batch(sets: MultiVectorBatch | Sequence[np.ndarray], dimension: int) -> MultiVectorBatch:
    """Check ``sets`` (a :class:`MultiVectorBatch` or a list of ``L_i x D`` arrays) and return a batch.

    Raises:
        InvalidInputError: an empty set, ragged dimensions, NaN or infinity, or ``D != dimension``.
    """
    if isinstance(sets, MultiVectorBatch):
        batch = sets
    elif isinstance(sets, np.ndarray) and sets.ndim == 2:
        raise InvalidInputError("got one 2-D array; pass a list of L_i x D arrays (one per set) or a MultiVectorBatch")
    else:
        if isinstance(sets, (str, bytes)) or not hasattr(sets, "__len__") or not hasattr(sets, "__getitem__"):
            raise InvalidInputError(f"expected a list of L_i x D arrays or a MultiVectorBatch, got {type(sets).__name__}")
        if len(sets) == 0:
            return MultiVectorBatch(np.zeros((0, dimension), np.float32), np.zeros(1, np.int64))
        arrays = []
        for i, item in enumerate(sets):
            try:
                array = np.asarray(item)
            except (TypeError, ValueError) as exc:  # ragged nested lists
                raise InvalidInputError(f"multi-vector set {i} is not an L x D array ({exc})") from exc
            if array.ndim != 2 or array.shape[0] == 0:
                raise InvalidInputError(f"multi-vector set {i} must be a non-empty L x D array, got shape {array.shape}")
            if array.dtype.kind not in "biuf":
                raise InvalidInputError(f"multi-vector set {i} must hold real numbers, got {array.dtype} values")
            arrays.append(array)
        with np.errstate(over="ignore"):  # values beyond float32 become infinity, refused by the batch
            batch = MultiVectorBatch.from_sets(arrays, dtype=np.float32)
    if batch.dimension != dimension:
        raise InvalidInputError(
            f"multi-vector sets have dimension {batch.dimension}, the FDE config expects {dimension}"
        )
    return batch


def as_labelled_batch(sets: Any, dimension: int, what: str) -> MultiVectorBatch:
    """:func:`as_batch` for an index's ``add`` / ``search``: every refusal is an :class:`InvalidInputError` whose
    message starts with ``what`` (``"documents"``, ``"queries"``), numpy's errors for ragged, text or ``None``
    input included."""
    try:
        return as_batch(sets, dimension)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{what}: {exc}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(
            f"{what}: expected a list of L_i x {dimension} float arrays or a MultiVectorBatch ({exc})"
        ) from exc


class FixedDimensionalEncoder:
    """Computes FDEs for one :class:`FDEConfig`; the random matrices are drawn once (or injected).

    Args:
        config: the encoding.
        matrices: optional :class:`FDEMatrices` to use instead of drawing them from ``config.seed``
            (e.g. the matrices a reference run used).
    """

    def __init__(self, config: FDEConfig, matrices: FDEMatrices | None = None) -> None:
        if not isinstance(config, FDEConfig):
            raise ConfigError(f"an FDE encoder needs an FDEConfig, got {type(config).__name__}")
        check_setup(config)
        self.config = config
        self.matrices = (matrices or draw_matrices(config)).check(config)
        r, d, k = config.num_repetitions, config.dimension, config.num_simhash_projections
        # Stacked so one GEMM serves every repetition: D x (R*k) and D x (R*block).
        self._simhash = np.ascontiguousarray(self.matrices.simhash.transpose(1, 0, 2).reshape(d, r * k))
        self._ams = (
            None
            if self.matrices.ams is None
            else np.ascontiguousarray(self.matrices.ams.transpose(1, 0, 2).reshape(d, -1))
        )
        self._bit_weights = (1 << np.arange(k - 1, -1, -1)).astype(np.int64)
        partitions = np.arange(config.num_partitions, dtype=np.int64)
        self._patterns = (partitions ^ (partitions >> 1)).astype(np.uint32)  # GrayCodeToBinary(p)

    @property
    def output_dimension(self) -> int:
        return self.config.output_dimension

    def __call__(self, sets: MultiVectorBatch | Sequence[np.ndarray]) -> np.ndarray:
        """FDEs of ``N`` sets: ``N x output_dimension`` float32."""
        batch = as_batch(sets, self.config.dimension)
        n = len(batch)
        offsets = batch.offsets
        max_sets = max(1, CHUNK_FLOATS // self.config.raw_dimension)
        if n:
            chunk_sets = min(n, max_sets)
            check_fits(
                n * 4 * self.config.output_dimension * (n > chunk_sets)
                + encoding_bytes(self.config, min(int(offsets[-1]), CHUNK_VECTORS), chunk_sets),
                f"FDEs of {n} sets ({int(offsets[-1])} vectors, {self.config.output_dimension} floats each)",
            )
        out: np.ndarray | None = None  # one chunk (e.g. one query): its FDEs are the output, no copy
        start = 0
        while start < n:
            stop = int(np.searchsorted(offsets, offsets[start] + CHUNK_VECTORS, side="right")) - 1
            stop = min(max(stop, start + 1), n, start + max_sets)
            lo, hi = int(offsets[start]), int(offsets[stop])
            values = np.asarray(batch.values[lo:hi], dtype=np.float32)
            chunk = self._final_projection(self._encode_chunk(values, offsets[start : stop + 1] - lo))
            if start == 0 and stop == n:
                return chunk
            if out is None:
                out = np.empty((n, self.config.output_dimension), np.float32)
            out[start:stop] = chunk
            start = stop
        return np.zeros((0, self.config.output_dimension), np.float32) if out is None else out

    # ------------------------------------------------------------------ steps
    def _sign_patterns(self, x: np.ndarray) -> np.ndarray:
        """``T x R`` int64: each point's SimHash sign bits per repetition, first hyperplane most significant."""
        cfg = self.config
        t, r, k = x.shape[0], cfg.num_repetitions, cfg.num_simhash_projections
        if k == 0:
            return np.zeros((t, r), np.int64)
        bits = (x @ self._simhash).reshape(t * r, k) > 0
        exact = np.float32 if k <= 24 else np.float64  # integers stay exact in the float mantissa
        return (bits.astype(exact) @ self._bit_weights.astype(exact)).astype(np.int64).reshape(t, r)

    @staticmethod
    def _gray_decode(codes: np.ndarray) -> np.ndarray:
        """Partition indices from sign patterns: bit ``i`` is the XOR of sign bits ``0..i`` (AppendToGrayCode)."""
        out = codes.copy()
        shift = 1
        while shift < 32:
            out ^= out >> shift
            shift <<= 1
        return out

    def _encode_chunk(self, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Raw FDEs (``n x R*P*block``) of the ``n`` sets of one chunk: ``x`` is ``T x D``.

        As in the reference, points are projected first (one ``T x D @ D x R*block`` GEMM for all
        repetitions), then summed into their blocks by a sparse scatter (one 1 per point).
        """
        from scipy import sparse

        cfg = self.config
        r, p, block = cfg.num_repetitions, cfg.num_partitions, cfg.block_dimension
        n, t = offsets.shape[0] - 1, x.shape[0]
        lengths = np.diff(offsets)
        set_of_row = np.repeat(np.arange(n, dtype=np.int64), lengths)
        codes = self._sign_patterns(x)  # T x R
        partition = self._gray_decode(codes)
        # Row (set, repetition, partition) of the output for every (point, repetition).
        keys = (set_of_row[:, None] * r + np.arange(r)[None, :]) * p + partition  # T x R
        rows = n * r * p
        if self._ams is not None:
            projected = (x @ self._ams).reshape(t, r, block)
            # One 1 per column: the product scatters every (point, repetition) into its block.
            scatter = sparse.csc_matrix(
                (np.ones(t * r, np.float32), keys.ravel(), np.arange(t * r + 1, dtype=np.int64)), shape=(rows, t * r)
            )
            out = np.asarray(scatter @ projected.reshape(t * r, block), dtype=np.float32).reshape(n, r, p, block)
        else:  # identity: scatter the points themselves, one repetition at a time (no T x R x D copy)
            projected = np.broadcast_to(x[:, None, :], (t, r, block))
            out = np.empty((n, r, p, block), np.float32)
            columns, ones = np.arange(t + 1, dtype=np.int64), np.ones(t, np.float32)
            for rep in range(r):
                scatter = sparse.csc_matrix((ones, set_of_row * p + partition[:, rep], columns), shape=(n * p, t))
                out[:, rep] = np.asarray(scatter @ x, dtype=np.float32).reshape(n, p, block)
        if cfg.encoding_type == "AVERAGE":
            counts = np.bincount(keys.ravel(), minlength=rows).reshape(n, r, p)
            out /= np.maximum(counts, 1)[..., None].astype(np.float32)  # empty blocks stay 0
            if cfg.fill_empty_partitions and cfg.num_simhash_projections > 0:
                empty = counts == 0
                for rep in np.flatnonzero(empty.any(axis=(0, 2))).tolist():
                    self._fill_empty(out, rep, empty[:, rep], projected[:, rep], codes[:, rep], set_of_row)
        return out.reshape(n, -1)

    def _fill_empty(
        self,
        out: np.ndarray,
        rep: int,
        empty: np.ndarray,
        projected: np.ndarray,
        codes: np.ndarray,
        set_of_row: np.ndarray,
    ) -> None:
        """Fill ``out[n, rep, p]`` where ``empty[n, p]`` with the projection of the point whose sign
        pattern is nearest in Hamming distance to ``p ^ (p >> 1)``, ties to the lowest index (in place).

        Only the first point of each (set, sign pattern) can win a tie, so at most ``P`` candidates per
        set are compared against the ``P`` partition patterns.
        """
        p = self.config.num_partitions
        needs = cast(np.ndarray, empty.any(axis=1))[set_of_row]  # an array: empty is 2-D
        rows = np.flatnonzero(needs)  # points of the sets with an empty partition, in order
        big = np.int64(projected.shape[0] + 1)
        first = np.full(empty.size, big, np.int64)
        np.minimum.at(first, set_of_row[rows] * p + codes[rows], rows)  # lowest index per (set, pattern)
        candidates = first[first < big]  # grouped by set
        cand_sets = set_of_row[candidates]
        starts = np.flatnonzero(np.r_[True, cand_sets[1:] != cand_sets[:-1]])
        sets = cand_sets[starts]
        distance = np.bitwise_count(codes[candidates, None].astype(np.uint32) ^ self._patterns[None, :])  # C x P
        ranked = distance.astype(np.int64) * big + candidates[:, None]  # min: nearest, then lowest index
        nearest = np.minimum.reduceat(ranked, starts, axis=0) % big  # n' x P global point index
        which_set, which_part = np.nonzero(empty[sets])
        out[sets[which_set], rep, which_part] = projected[nearest[which_set, which_part]]

    def _final_projection(self, raw: np.ndarray) -> np.ndarray:
        """Count sketch ``N x raw`` -> ``N x final`` (unscaled), or ``raw`` itself."""
        cfg = self.config
        if cfg.final_projection_dimension is None:
            return raw
        from scipy import sparse

        index, sign = self.matrices.count_sketch_index, self.matrices.count_sketch_sign
        sketch = sparse.csr_matrix(
            (sign, index, np.arange(raw.shape[1] + 1, dtype=np.int64)),
            shape=(raw.shape[1], cfg.final_projection_dimension),
        )
        return np.ascontiguousarray((sketch.T @ raw.T).T, dtype=np.float32)


def fde(
    sets: MultiVectorBatch | Sequence[np.ndarray], config: FDEConfig, matrices: FDEMatrices | None = None
) -> np.ndarray:
    """FDEs of ``N`` sets under ``config``: ``N x config.output_dimension`` float32 (see the module doc)."""
    return FixedDimensionalEncoder(config, matrices)(sets)


def paired_encoders(document: FDEConfig) -> tuple[FixedDimensionalEncoder, FixedDimensionalEncoder]:
    """(document encoder, query encoder) for a document-side config; both share one draw of matrices."""
    documents = FixedDimensionalEncoder(document)
    return documents, FixedDimensionalEncoder(document.for_queries(), documents.matrices)
