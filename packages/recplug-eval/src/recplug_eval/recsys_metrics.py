"""Full-ranking recommender metrics with seen items excluded, overall and by item-popularity slice.

Definitions follow RecBole (``recbole/evaluator/metrics.py``), averaged over users with at least one
held-out item; for user ``u`` with held-out items ``G`` and ranked list ``r_1..r_k`` (seen items removed):

* ``R@k`` (recall) = ``|top-k ∩ G| / |G|``
* ``nDCG@k`` (binary relevance) = ``Σ_{i≤k, r_i∈G} 1/log2(i+1)  /  Σ_{i≤min(k,|G|)} 1/log2(i+1)``
* ``RR@k`` (MRR) = ``1 / rank of the first hit`` (0 without a hit in the top k)
* ``Success@k`` (hit ratio) = ``1`` if any hit, ``P@k`` (precision) = ``hits / k``

Keys are ir-measures' names (:func:`recplug_eval.metrics.measure_name`), the same values ir-measures computes
for binary relevance.

Popularity slices: ``head`` = the top ``head_fraction`` (default 20%) of all items by number of training
interactions (ties to the lower item id), ``tail`` = the rest. A slice's metrics use the same ranking over
all items, with the ground truth restricted to the slice's items (users without held-out items in the
slice are skipped); keys are prefixed ``head/`` and ``tail/``.

Ranking: exact scores ``users @ items.T`` with torch in batches of users (``U`` users, ``I`` items, ``D``
dims), or any :class:`recplug.protocols.RetrievalIndex` holding the items (ids = item ids), searched for
``k + most excluded items of a user`` results so exclusion never leaves fewer than ``k``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from recplug.errors import InvalidInputError
from recplug.validation import check_k

from recplug_eval.metrics import measure_name

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import polars as pl

DEFAULT_KS = (10, 20, 50)
#: ir-measures measures computed at every cut-off: recall, nDCG, MRR, hit ratio, precision
MEASURES = ("R", "nDCG", "RR", "Success", "P")


def _pairs(frame: pl.DataFrame, name: str, num_users: int, num_items: int) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    for column in ("user_id", "item_id"):
        if column not in frame.columns:
            raise InvalidInputError(f"{name}: missing column {column!r} (has {', '.join(frame.columns)})")
    users = frame["user_id"].to_numpy().astype(np.int64)
    items = frame["item_id"].to_numpy().astype(np.int64)
    if len(users) and (users.min() < 0 or users.max() >= num_users):
        raise InvalidInputError(f"{name}: user_id outside [0, {num_users}) (got {users.min()}..{users.max()})")
    if len(items) and (items.min() < 0 or items.max() >= num_items):
        raise InvalidInputError(f"{name}: item_id outside [0, {num_items}) (got {items.min()}..{items.max()})")
    return users, items


def popularity_head_mask(train: pl.DataFrame, num_items: int, head_fraction: float = 0.2) -> np.ndarray:
    """Boolean ``I`` mask of head items: the top ``head_fraction`` of items by training interactions."""
    import numpy as np

    if not 0.0 < head_fraction < 1.0:
        raise InvalidInputError(f"head_fraction must lie in (0, 1), got {head_fraction}")
    _, items = _pairs(train, "train", np.iinfo(np.int64).max, num_items)
    counts = np.bincount(items, minlength=num_items)
    order = np.lexsort((np.arange(num_items), -counts))
    mask = np.zeros(num_items, bool)
    mask[order[: max(1, round(head_fraction * num_items))]] = True
    return mask


def _by_user(users: np.ndarray, items: np.ndarray) -> dict[int, np.ndarray]:
    import numpy as np

    order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]
    cuts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.zeros(0, np.int64)
    groups = np.split(items, cuts[1:]) if len(users) else []
    return {int(users[c]): np.unique(g) for c, g in zip(cuts, groups, strict=True)}


def rank_items(
    user_embeddings: Any,
    item_embeddings: Any,
    users: Sequence[int] | np.ndarray,
    k: int,
    exclude: Mapping[int, np.ndarray] | None = None,
    *,
    index: Any = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Top ``k`` item ids (``len(users) x k`` int64, best first) by inner product, seen items excluded.

    Args:
        user_embeddings: ``U x D`` (torch tensor or array); rows are selected by ``users``.
        item_embeddings: ``I x D``; ignored when ``index`` is given.
        users: user ids to rank for.
        exclude: ``{user: item ids}`` never to return for that user (training items).
        index: optional retrieval index holding the ``I`` items with integer ids = item ids.
        batch_size: users scored per matrix product.
    """
    import numpy as np
    import torch

    k = check_k(k)
    exclude = exclude or {}
    users = np.asarray(users, dtype=np.int64)
    queries = torch.as_tensor(np.asarray(user_embeddings) if not torch.is_tensor(user_embeddings) else user_embeddings)
    queries = queries.detach().float().cpu()
    out = np.full((len(users), k), -1, np.int64)
    if index is not None:
        extra = max((len(v) for v in exclude.values()), default=0)
        for start in range(0, len(users), batch_size):
            chunk = users[start : start + batch_size]
            result = index.search(queries[torch.as_tensor(chunk)].numpy(), k + extra)
            for row, (user, ids) in enumerate(zip(chunk, np.asarray(result.ids), strict=True)):
                seen = exclude.get(int(user))
                keep = ids[ids >= 0] if seen is None else ids[(ids >= 0) & ~np.isin(ids, seen)]
                out[start + row, : min(k, len(keep))] = keep[:k]
        return out
    items = torch.as_tensor(np.asarray(item_embeddings) if not torch.is_tensor(item_embeddings) else item_embeddings)
    items = items.detach().float().cpu()
    if queries.shape[1] != items.shape[1]:
        raise InvalidInputError(f"user embeddings have D={queries.shape[1]}, item embeddings D={items.shape[1]}")
    kk = min(k, items.shape[0])
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            chunk = users[start : start + batch_size]
            scores = queries[torch.as_tensor(chunk)] @ items.T
            rows, cols = [], []
            for row, user in enumerate(chunk):
                seen = exclude.get(int(user))
                if seen is not None and len(seen):
                    rows.append(np.full(len(seen), row))
                    cols.append(seen)
            if rows:
                scores[torch.as_tensor(np.concatenate(rows)), torch.as_tensor(np.concatenate(cols))] = -torch.inf
            top = torch.topk(scores, kk, dim=1).indices.numpy()
            finite = np.isfinite(np.take_along_axis(scores.numpy(), top, axis=1))
            out[start : start + len(chunk), :kk] = np.where(finite, top, -1)
    return out


def metrics_from_ranking(
    ranked: np.ndarray, truth: Sequence[np.ndarray], ks: Iterable[int] = DEFAULT_KS, prefix: str = ""
) -> dict[str, float]:
    """RecBole-style metrics of ``ranked`` (``U x K`` item ids, -1 = empty) against ``truth[u]`` item ids.

    Users whose ``truth`` is empty are skipped; ``{prefix}num_users`` counts the others.
    """
    import numpy as np

    ks = sorted({check_k(k) for k in ks})
    if ks[-1] > ranked.shape[1]:
        raise InvalidInputError(f"ranking has {ranked.shape[1]} columns, metrics ask for k={ks[-1]}")
    keep = np.array([len(t) > 0 for t in truth], bool)
    out: dict[str, float] = {f"{prefix}num_users": float(keep.sum())}
    if not keep.any():
        return out | {measure_name(prefix + m, k): 0.0 for m in MEASURES for k in ks}
    ranked = ranked[keep]
    truth = [t for t, flag in zip(truth, keep, strict=True) if flag]
    hits = np.stack([np.isin(row, t) & (row >= 0) for row, t in zip(ranked, truth, strict=True)]).astype(np.float64)
    sizes = np.array([len(t) for t in truth], np.float64)
    discounts = 1.0 / np.log2(np.arange(2, ranked.shape[1] + 2))
    first = np.where(hits.any(1), hits.argmax(1), ranked.shape[1])
    for k in ks:
        h = hits[:, :k]
        n_hits = h.sum(1)
        ideal = np.cumsum(discounts[:k])[np.minimum(sizes, k).astype(np.int64) - 1]
        values = {
            "R": (n_hits / sizes).mean(),
            "nDCG": ((h * discounts[:k]).sum(1) / ideal).mean(),
            "RR": np.where(first < k, 1.0 / (first + 1), 0.0).mean(),
            "Success": (n_hits > 0).mean(),
            "P": (n_hits / k).mean(),
        }
        out |= {measure_name(prefix + m, k): float(values[m]) for m in MEASURES}
    return out


def full_ranking_metrics(
    user_embeddings: Any,
    item_embeddings: Any,
    test: pl.DataFrame,
    exclude: pl.DataFrame | Sequence[pl.DataFrame] = (),
    *,
    ks: Iterable[int] = DEFAULT_KS,
    head_mask: np.ndarray | None = None,
    index: Any = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Metrics of every user in ``test`` ranking all ``I`` items, items in ``exclude`` removed.

    Args:
        user_embeddings: ``U x D`` user (query) embeddings, row = user id.
        item_embeddings: ``I x D`` item embeddings, row = item id.
        test: held-out pairs (``user_id``, ``item_id``).
        exclude: pairs never ranked (RecBole excludes train + valid when scoring test).
        ks: cut-offs.
        head_mask: ``I`` booleans from :func:`popularity_head_mask`; adds ``head/…`` and ``tail/…`` keys.
        index: optional retrieval index over the items (see :func:`rank_items`).
    Returns:
        ``{"R@10": …, "nDCG@10": …, "RR@10": …, "Success@10": …, "P@10": …, "num_users": …}``
        for each ``k``, plus slice keys.
    """
    import numpy as np

    num_users, num_items = int(np.shape(user_embeddings)[0]), int(np.shape(item_embeddings)[0])
    test_users, test_items = _pairs(test, "test", num_users, num_items)
    if len(test_users) == 0:
        raise InvalidInputError("test: no held-out interactions")
    if hasattr(exclude, "columns"):  # one frame
        frames = [cast("pl.DataFrame", exclude)]
    else:
        frames = list(cast("Sequence[pl.DataFrame]", exclude))
    seen_u, seen_i = [], []
    for n, frame in enumerate(frames):
        u, i = _pairs(frame, f"exclude[{n}]", num_users, num_items)
        seen_u.append(u)
        seen_i.append(i)
    seen = _by_user(np.concatenate(seen_u), np.concatenate(seen_i)) if seen_u else {}
    truth_by_user = _by_user(test_users, test_items)
    users = np.array(sorted(truth_by_user), np.int64)
    ks = sorted({check_k(k) for k in ks})
    ranked = rank_items(user_embeddings, item_embeddings, users, ks[-1], seen, index=index, batch_size=batch_size)
    truth = [truth_by_user[int(u)] for u in users]
    out = metrics_from_ranking(ranked, truth, ks)
    if head_mask is not None:
        head_mask = np.asarray(head_mask, bool)
        if head_mask.shape != (num_items,):
            raise InvalidInputError(f"head_mask has shape {head_mask.shape}, expected ({num_items},)")
        for name, mask in (("head", head_mask), ("tail", ~head_mask)):
            out |= metrics_from_ranking(ranked, [t[mask[t]] for t in truth], ks, prefix=f"{name}/")
    return out

