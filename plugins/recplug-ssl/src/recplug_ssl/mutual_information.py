"""Mutual information between categorical item features, computed once, offline (Yao et al. 2021, CFM).

A feature column is scalar (one category per row) or multi-valued (a list per row, e.g. genres); a list
counts as one category: the *set* of its values (so ``[Drama, Comedy]`` equals ``[Comedy, Drama]``). Nulls
are a category of their own. MI is in nats: ``MI(X, Y) = Σ p(x, y) log(p(x, y) / (p(x) p(y)))``; the
diagonal holds the entropies ``H(X)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

FORMAT_VERSION = 1


@dataclass(frozen=True)
class MutualInformation:
    """Pairwise MI of ``F`` features.

    Attributes:
        features: the feature names, in matrix order.
        matrix: F x F float64, symmetric, non-negative; ``matrix[i, i] = H(feature i)``.
    """

    features: tuple[str, ...]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        f = len(self.features)
        if self.matrix.shape != (f, f):
            raise InvalidInputError(f"MI matrix must be {f} x {f} for features {list(self.features)}, got {self.matrix.shape}")

    def subset(self, features: Sequence[str]) -> MutualInformation:
        """The matrix restricted to (and ordered as) ``features``; unknown names are a :class:`ConfigError`."""
        missing = [f for f in features if f not in self.features]
        if missing:
            raise ConfigError(f"no mutual information for feature(s) {missing}; computed for {list(self.features)}")
        idx = [self.features.index(f) for f in features]
        return MutualInformation(tuple(features), self.matrix[np.ix_(idx, idx)])

    def save(self, path: Path) -> Path:
        """Write to ``path`` (.npz, atomically)."""
        from recplug.fileio import atomic_writer

        with atomic_writer(Path(path), "wb") as handle:
            np.savez(handle, features=np.array(self.features, dtype=np.str_), matrix=self.matrix,
                     version=np.array(FORMAT_VERSION))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> MutualInformation:
        """Read a file written by :meth:`save` (no pickles)."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                version = int(data["version"])
                features, matrix = tuple(str(f) for f in data["features"]), np.asarray(data["matrix"], np.float64)
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptFileError(f"cannot read mutual information file {path}: {exc}") from exc
        if version != FORMAT_VERSION:
            raise IncompatibleFileError(f"{path}: MI format version {version}, expected {FORMAT_VERSION}")
        return cls(features, matrix)


def category_codes(frame: pl.DataFrame, column: str) -> np.ndarray:
    """Integer codes ``0..C-1`` of a column's categories (a list column: the set of its values): N."""
    import polars as pl

    if column not in frame.columns:
        raise ConfigError(f"feature {column!r} is not a column of the item features; columns: {frame.columns}")
    series = frame.get_column(column)
    if isinstance(series.dtype, (pl.List, pl.Array)):
        series = series.list.unique().list.sort()
    hashed = series.hash(seed=0).to_numpy()
    _, codes = np.unique(hashed, return_inverse=True)
    return codes.astype(np.int64)


def _check_not_empty(frame: pl.DataFrame, column: str) -> None:
    """A feature with no values at all (all nulls, or only empty lists) is an :class:`InvalidInputError`."""
    import polars as pl

    if column not in frame.columns:
        raise ConfigError(f"feature {column!r} is not a column of the item features; columns: {frame.columns}")
    series = frame.get_column(column)
    present = series.len() - series.null_count()
    if isinstance(series.dtype, (pl.List, pl.Array)):
        present = int(series.list.len().fill_null(0).sum())
    if present == 0:
        raise InvalidInputError(f"feature {column!r} is empty (no values in {series.len()} rows): cannot compute its mutual information")


def _entropy(counts: np.ndarray, total: float) -> float:
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum())


def mutual_information(
    frame: pl.DataFrame, features: Sequence[str], weights: np.ndarray | None = None
) -> MutualInformation:
    """Pairwise MI of ``features`` over the rows of ``frame``.

    Args:
        frame: one row per training example (or per item, with ``weights`` its training frequency).
        features: F >= 1 categorical columns (scalar or list).
        weights: optional N non-negative row weights.

    Raises:
        InvalidInputError: no rows (or zero total weight), or a feature with a single category (constant:
            its MI with everything is 0, so it cannot rank correlations).
        ConfigError: a feature that is not a column.
    """
    features = tuple(features)
    if not features:
        raise ConfigError("mutual information needs at least one feature")
    n = frame.height
    if n == 0:
        raise InvalidInputError(f"cannot compute mutual information of {list(features)} over an empty frame")
    if weights is None:
        w = np.ones(n, dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise InvalidInputError(f"weights must be {n} finite non-negative numbers, got shape {w.shape}")
    total = float(w.sum())
    if total <= 0:
        raise InvalidInputError("mutual information over rows whose weights sum to 0 (no data)")
    for f in features:
        _check_not_empty(frame, f)
    codes = {f: category_codes(frame, f) for f in features}
    sizes = {}
    for f, c in codes.items():
        present = np.bincount(c, weights=w)
        sizes[f] = int(c.max()) + 1
        if int((present > 0).sum()) < 2:
            raise InvalidInputError(f"feature {f!r} is constant over the data (one category): mutual information is undefined for masking")
    k = len(features)
    matrix = np.zeros((k, k), dtype=np.float64)
    marginals = {f: np.bincount(codes[f], weights=w, minlength=sizes[f]) for f in features}
    for i, fi in enumerate(features):
        matrix[i, i] = _entropy(marginals[fi], total)
        for j in range(i + 1, k):
            fj = features[j]
            joint_code = codes[fi] * sizes[fj] + codes[fj]
            pairs, inverse = np.unique(joint_code, return_inverse=True)
            joint = np.bincount(inverse, weights=w)
            keep = joint > 0
            pxy = joint[keep] / total
            px = marginals[fi][pairs[keep] // sizes[fj]] / total
            py = marginals[fj][pairs[keep] % sizes[fj]] / total
            mi = float((pxy * np.log(pxy / (px * py))).sum())
            matrix[i, j] = matrix[j, i] = max(mi, 0.0)
    return MutualInformation(features, matrix)
