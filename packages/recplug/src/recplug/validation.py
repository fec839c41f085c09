"""Input checks shared by encoders and indexes; each error names what is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recplug.errors import InvalidInputError
from recplug.memory import check_fits

#: Bytes per result of a search (an int64 id or a short string id, and a float32 score), for size checks.
RESULT_SLOT_BYTES = 16


def as_float32_matrix(x: Any, *, name: str = "vectors", dimension: int | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 ``N x D`` array after checking it.

    Raises:
        InvalidInputError: not 2-D, ``D`` differs from ``dimension``, or contains NaN or infinity.
    """
    try:
        if np.iscomplexobj(x):
            raise InvalidInputError(f"{name}: complex numbers are not vectors of reals")
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


def check_ids(ids: Any, count: int, *, name: str = "ids", existing: np.ndarray | None = None) -> np.ndarray:
    """Return ``ids`` as a 1-D array of length ``count`` (integers or strings); duplicates, and ids of
    another kind (integers vs strings) than the ``existing`` ids of a non-empty index, are errors."""
    try:
        array = np.asarray(ids)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: cannot be read as an array of ids ({exc})") from exc
    if array.ndim != 1 or array.shape[0] != count:
        raise InvalidInputError(f"{name}: expected {count} ids, got shape {array.shape}")
    if array.dtype.kind == "O" and count:
        kinds = {type(value) for value in array.tolist()}
        if not (kinds <= {str} or all(issubclass(kind, (int, np.integer)) and kind is not bool for kind in kinds)):
            raise InvalidInputError(f"{name}: ids must be all integers or all strings, got {sorted(k.__name__ for k in kinds)}")
        array = array.astype(str) if str in kinds else array.astype(np.int64)
    if array.dtype.kind not in "iuU" or (array.dtype.kind == "O" and count == 0):
        if count == 0:
            array = np.zeros(0, existing.dtype if existing is not None and len(existing) else np.int64)
        else:
            raise InvalidInputError(f"{name}: ids must be integers or strings, got dtype {array.dtype}")
    unique = np.unique(array)
    if unique.shape[0] != count:
        raise InvalidInputError(f"{name}: {count - unique.shape[0]} duplicate ids")
    if existing is not None and len(existing) and count:
        if (array.dtype.kind == "U") != (existing.dtype.kind == "U"):
            held = "string" if existing.dtype.kind == "U" else "integer"
            raise InvalidInputError(f"{name}: the index holds {held} ids, got dtype {array.dtype} (the kind is fixed by the first add)")
        clash = np.isin(array, existing)
        if clash.any():
            raise InvalidInputError(f"{name}: id {array[clash][0].item()!r} (and maybe others) is already in the index")
    return array


def check_k(k: Any, queries: int = 1) -> int:
    """``k`` must be a positive integer (not a bool), and ``queries x k`` results must fit in memory.

    Raises:
        InvalidInputError: ``k`` is not a positive integer.
        ResourceError: the ``queries x k`` ids and scores would not fit (the message gives the estimate).
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, (bool, np.bool_)) or k <= 0:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    check_fits(max(1, queries) * int(k) * RESULT_SLOT_BYTES, f"search results for {queries} queries x k={k}")
    return int(k)


def check_texts(texts: Any, what: str = "texts", *, blank: bool = True) -> list[str]:
    """``texts`` as a list of strings (a sequence or array of them; one bare string is refused, as is text
    with unpaired surrogates that no tokenizer can read); ``blank=False`` also refuses blank rows.

    Raises:
        InvalidInputError: naming the row.
    """
    if isinstance(texts, (str, bytes)):
        raise InvalidInputError(f"{what}: expected a sequence of strings, got a single {type(texts).__name__}")
    if not isinstance(texts, Sequence) and not hasattr(texts, "__array__"):
        raise InvalidInputError(f"{what}: expected a sequence of strings, got {type(texts).__name__}")
    texts = list(texts)
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInputError(f"{what}: row {row} is {type(text).__name__}, not a string")
        if not blank and not text.strip():
            raise InvalidInputError(f"{what}: row {row} is empty")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInputError(f"{what}: row {row} is not valid Unicode text ({exc.reason} at {exc.start})") from exc
    return texts
