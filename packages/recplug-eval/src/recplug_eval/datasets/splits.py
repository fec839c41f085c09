"""Train / valid / test splits of an interaction frame (``user_id``, ``item_id``, optional ``timestamp``).

Kinds (:data:`SPLITS`), all deterministic:

* ``"recbole"`` (alias ``"random"``): RecBole's default ``eval_args`` (``order: RO``, ``split: {RS: ratios}``,
  ``group_by: user``, ``seed``): ``torch.manual_seed(seed); torch.randperm(n)`` shuffles all interactions
  (RecBole's ``Interaction.shuffle``), rows are grouped by user keeping the shuffled order, and each user's
  rows are cut with RecBole's ``Dataset._calcu_split_ids`` rounding (a user with one row keeps it in train).
* ``"loo"``: leave-one-out by time: each user's latest interaction is test, the one before is valid (users
  with fewer than 3 interactions keep everything but the test row in train; users with 1 keep it in train).
  Ties in time keep file order.
* ``"temporal"``: one global time cut (RecBole's ``order: TO`` without grouping): rows sorted by
  ``timestamp`` (ties in file order); the first ``ratios[0]`` share is train, the next ``ratios[1]`` valid,
  the rest test. Users may then have no training row (they are still evaluated, from their features).
* ``"column"``: taken from the data: a column of ``train`` / ``valid`` / ``test`` labels (``validation``,
  ``val`` and ``dev`` mean ``valid``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recplug.errors import ConfigError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import polars as pl

SPLITS = ("recbole", "random", "loo", "temporal", "column")
#: split-column labels and the part they name (0 train, 1 valid, 2 test)
SPLIT_LABELS = {"train": 0, "valid": 1, "validation": 1, "val": 1, "dev": 1, "test": 2}


@dataclass(frozen=True)
class InteractionSplit:
    """Train / valid / test interaction frames (same columns as the interactions)."""

    train: pl.DataFrame
    valid: pl.DataFrame
    test: pl.DataFrame


def recbole_split_ids(total: int, ratios: Sequence[float]) -> list[int]:
    """RecBole's ``Dataset._calcu_split_ids``: cut points of ``total`` rows by ``ratios``."""
    cnt = [int(ratios[i] * total) for i in range(len(ratios))]
    cnt[0] = total - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * total < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    cuts, acc = [], 0
    for c in cnt[:-1]:
        acc += c
        cuts.append(acc)
    return cuts


def recbole_split_labels(user_ids: np.ndarray, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 2020) -> np.ndarray:
    """Split index (0 train, 1 valid, 2 test) of each interaction under RecBole's ``RS`` split by user."""
    import numpy as np
    import torch

    total_ratio = float(sum(ratios))
    ratios = [r / total_ratio for r in ratios]
    n = len(user_ids)
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=generator).numpy()
    shuffled_users = np.asarray(user_ids)[perm]
    order = np.argsort(shuffled_users, kind="stable")  # grouped by user, shuffled order kept within a user
    grouped_users = shuffled_users[order]
    starts = np.flatnonzero(np.r_[True, grouped_users[1:] != grouped_users[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    labels_sorted = np.zeros(n, np.int8)
    cache: dict[int, list[int]] = {}
    per_row_size = np.repeat(sizes, sizes)
    for size in np.unique(sizes):
        cuts = cache.setdefault(int(size), recbole_split_ids(int(size), ratios))
        rows = per_row_size == size
        labels_sorted[rows] = np.searchsorted(np.asarray(cuts), rank[rows], side="right")
    labels = np.empty(n, np.int8)
    labels[perm[order]] = labels_sorted
    return labels


def leave_one_out_labels(user_ids: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Split index (0/1/2) by time: each user's last interaction test, the one before valid (see module doc)."""
    import numpy as np

    n = len(user_ids)
    order = np.lexsort((np.arange(n), timestamps, user_ids))
    users_sorted = np.asarray(user_ids)[order]
    ends = np.flatnonzero(np.r_[users_sorted[1:] != users_sorted[:-1], True])
    starts = np.r_[0, ends[:-1] + 1]
    sizes = ends - starts + 1
    labels_sorted = np.zeros(n, np.int8)
    labels_sorted[ends[sizes >= 2]] = 2
    labels_sorted[ends[sizes >= 3] - 1] = 1
    labels = np.empty(n, np.int8)
    labels[order] = labels_sorted
    return labels


def temporal_labels(timestamps: np.ndarray, ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """Split index (0/1/2) of each row under one global time cut (see the module doc)."""
    import numpy as np

    n = len(timestamps)
    total = float(sum(ratios))
    order = np.argsort(np.asarray(timestamps), kind="stable")
    cuts = recbole_split_ids(n, [r / total for r in ratios])
    labels = np.empty(n, np.int8)
    labels[order] = np.searchsorted(np.asarray(cuts), np.arange(n), side="right").astype(np.int8)
    return labels


def column_labels(values: Sequence[object], source: str) -> np.ndarray:
    """Split index (0/1/2) from a column of labels; an unknown label names its first row (1-based)."""
    import numpy as np

    out = np.empty(len(values), np.int8)
    for row, value in enumerate(values):
        label = SPLIT_LABELS.get(str(value).strip().lower()) if value is not None else None
        if label is None:
            raise InvalidInputError(
                f"{source}: unknown split label {value!r} at row {row + 1}; expected one of {', '.join(SPLIT_LABELS)}"
            )
        out[row] = label
    return out


def split_interactions(
    interactions: pl.DataFrame,
    kind: str = "recbole",
    seed: int = 2020,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    split_column: str = "split",
    source: str = "interactions, column 'split'",
) -> InteractionSplit:
    """Split an interaction frame by ``kind`` (see the module doc); the split column itself is dropped.
    ``source`` names the split column's file and column in errors."""
    import polars as pl

    if len(ratios) != 3 or any(r < 0 for r in ratios) or ratios[0] <= 0:
        raise ConfigError(f"split ratios must be three non-negative shares with train > 0, got {list(ratios)}")
    if kind in ("recbole", "random"):
        labels = recbole_split_labels(interactions["user_id"].to_numpy(), ratios, seed=seed)
    elif kind in ("loo", "temporal"):
        if "timestamp" not in interactions.columns:
            raise ConfigError(f"split {kind!r} needs a timestamp column (data.timestamp_column)")
        stamps = interactions["timestamp"].to_numpy()
        if kind == "loo":
            labels = leave_one_out_labels(interactions["user_id"].to_numpy(), stamps)
        else:
            labels = temporal_labels(stamps, ratios)
    elif kind == "column":
        if split_column not in interactions.columns:
            raise ConfigError(f"split 'column' needs the column {split_column!r} in {source} (data.split_column)")
        labels = column_labels(interactions[split_column].to_list(), source)
    else:
        raise ConfigError(f"unknown split {kind!r}; choose one of {', '.join(SPLITS)}")
    labelled = interactions.with_columns(pl.Series("_split", labels))
    drop = ["_split", *([split_column] if kind == "column" else [])]
    return InteractionSplit(*[labelled.filter(pl.col("_split") == i).drop(drop) for i in range(3)])
