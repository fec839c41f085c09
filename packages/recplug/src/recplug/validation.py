"""Input checks shared by encoders and indexes; each error names what is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np

from recplug.errors import InvalidInputError


def as_float32_matrix(x: Any, *, name: str = "vectors", dimension: int | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 ``N x D`` array after checking it.

    Raises:
        InvalidInputError: not 2-D, ``D`` differs from ``dimension``, or contains NaN or infinity.
    """
    try:
        array = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: cannot be read as a float32 matrix ({exc})") from exc
    if array.ndim == 1 and dimension is not None and array.shape[0] == dimension:
        array = array[None, :]
    if array.ndim != 2:
        raise InvalidInputError(f"{name}: expected a 2-D array (N x D), got shape {array.shape}")
    if dimension is not None and array.shape[1] != dimension:
        raise InvalidInputError(f"{name}: wrong dimension {array.shape[1]}, expected {dimension}")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidInputError(f"{name}: contains NaN or infinity (first at row {row})")
    return np.ascontiguousarray(array)


def normalize_rows(x: np.ndarray, *, name: str = "vectors") -> np.ndarray:
    """Rows of ``x`` (N x D float32) scaled to unit L2 norm; a zero row has no direction and is an error."""
    norms = np.sqrt(np.einsum("nd,nd->n", x, x))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InvalidInputError(f"{name}: row {int(zero[0])} is a zero vector, which has no cosine")
    return x / norms[:, None]


def check_ids(ids: Any, count: int, *, name: str = "ids") -> np.ndarray:
    """Return ``ids`` as a 1-D array of length ``count``; duplicates are an error."""
    array = np.asarray(ids)
    if array.ndim != 1 or array.shape[0] != count:
        raise InvalidInputError(f"{name}: expected {count} ids, got shape {array.shape}")
    if array.dtype.kind not in "iuUO":
        raise InvalidInputError(f"{name}: ids must be integers or strings, got dtype {array.dtype}")
    if array.dtype.kind == "O":
        array = array.astype(str)
    unique = np.unique(array)
    if unique.shape[0] != count:
        raise InvalidInputError(f"{name}: {count - unique.shape[0]} duplicate ids")
    return array


def check_k(k: int) -> int:
    """``k`` must be a positive integer."""
    if not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    return int(k)
