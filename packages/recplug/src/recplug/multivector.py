"""Ragged sets of vectors (multi-vector documents and queries) in a compact, checked form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recplug.errors import InvalidInputError
from recplug.memory import check_fits

#: rows checked for NaN / infinity at a time
CHECK_ROWS = 1 << 16


@dataclass(frozen=True)
class MultiVectorBatch:
    """``N`` sets of ``D``-dimensional vectors stored as one matrix plus offsets.

    Attributes:
        values: ``T x D`` (T = total vectors), float16 or float32.
        offsets: ``N + 1`` int64, non-decreasing, ``offsets[0] == 0`` and ``offsets[-1] == T``; set ``i``
            is ``values[offsets[i]:offsets[i+1]]``.
    """

    values: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        values, offsets = self.values, np.asarray(self.offsets)
        if values.ndim != 2:
            raise InvalidInputError(f"multi-vector values must be T x D, got shape {values.shape}")
        if offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[0] != 0 or offsets[-1] != values.shape[0]:
            raise InvalidInputError(
                f"multi-vector offsets must run from 0 to {values.shape[0]} (got {offsets[:1]}..{offsets[-1:]})"
            )
        lengths = np.diff(offsets)
        if (lengths < 0).any():
            raise InvalidInputError("multi-vector offsets must be non-decreasing")
        if (lengths == 0).any():
            raise InvalidInputError(f"multi-vector set {int(np.argmax(lengths == 0))} is empty")
        for first in range(0, values.shape[0], CHECK_ROWS):  # in blocks: no T x D temporary on a large corpus
            finite = np.isfinite(values[first : first + CHECK_ROWS]).all(axis=1)
            if not finite.all():
                row = first + int(np.argmin(finite))
                set_index = int(np.searchsorted(offsets, row, side="right") - 1)
                raise InvalidInputError(f"multi-vector set {set_index} contains NaN or infinity")
        object.__setattr__(self, "offsets", offsets.astype(np.int64, copy=False))

    @classmethod
    def from_sets(cls, sets: Sequence[np.ndarray], dtype: type = np.float32) -> MultiVectorBatch:
        """Pack a list of ``L_i x D`` arrays; all must share ``D`` and be non-empty."""
        if len(sets) == 0:
            raise InvalidInputError("no multi-vector sets given")
        arrays: list[np.ndarray] = [np.asarray(s, dtype=dtype) for s in sets]
        dims = {a.shape[1] if a.ndim == 2 else -1 for a in arrays}
        if len(dims) != 1 or -1 in dims:
            raise InvalidInputError(f"ragged multi-vector sets: every set must be L_i x D, got dims {sorted(dims)}")
        lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return cls(np.concatenate(arrays, axis=0), offsets)

    @property
    def dimension(self) -> int:
        return int(self.values.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def first(self, n: int) -> MultiVectorBatch:
        """The first ``n`` sets as views of this batch's arrays (no copy: a memory-mapped batch stays mapped)."""
        n = max(0, min(int(n), len(self)))
        if n == 0:
            raise InvalidInputError("no multi-vector sets given")
        return MultiVectorBatch(self.values[: self.offsets[n]], self.offsets[: n + 1])

    def select(self, indices: Sequence[int] | np.ndarray) -> MultiVectorBatch:
        """The sets at ``indices``, in that order, as a new batch."""
        return MultiVectorBatch.from_sets([self[int(i)] for i in indices], dtype=self.values.dtype.type)


def append_float16(store: np.ndarray, values: np.ndarray, what: str = "float16 vectors") -> np.ndarray:
    """``store`` (``T x D`` float16) with ``values`` appended. A read-only float16 ``values`` (a memory-mapped cache,
    say) appended to an empty store is kept as it is, not copied: the index reads it where it lies and a corpus
    larger than memory stays on disk; anything else is copied (the caller may change its own array later), after
    :func:`recplug.memory.check_fits` of the new store (``what`` names it in the error)."""
    if store.shape[0] == 0 and values.dtype == np.float16 and not values.flags.writeable:
        return values
    check_fits((store.shape[0] + values.shape[0]) * values.shape[1] * 2, what)
    return np.concatenate([store, np.asarray(values, np.float16)])
