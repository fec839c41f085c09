"""Feature masking and value dropout on torchrec ``KeyedJaggedTensor`` s: pure functions, new KJTs out.

A KJT holds ``F`` keys over a batch of ``B`` items; key ``f``'s bag for item ``i`` is ``L[f][i]`` values
(and, for weighted features, as many weights). Masking a feature gives every bag of that key its *default
embedding*:

- ``"empty"`` (default): the bag becomes empty. torchrec pools an empty bag to the zero vector (sum and
  mean pooling), exactly what zero-weighting all of its values in a weighted feature gives.
- an integer id (``defaults={"genres": 0}``): the bag becomes that single id, a dedicated "missing" row
  of the table, so the default embedding is learned.

Value dropout (the paper's second stage) removes single values from multi-valued bags: a weighted KJT keeps
its values and gets weight 0 on the dropped ones; an unweighted KJT loses the dropped values (identical
pooled sum; for mean pooling the mean over the kept values).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from recplug.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

EMPTY = "empty"


def _kjt(keys: Sequence[str], values: torch.Tensor, lengths: torch.Tensor, weights: torch.Tensor | None) -> KeyedJaggedTensor:
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    return KeyedJaggedTensor(keys=list(keys), values=values, lengths=lengths.to(torch.int64), weights=weights)


def check_features(kjt_keys: Sequence[str], features: Collection[str], what: str = "masking config") -> None:
    """``features`` must all be keys of the KJT (the model's item features); else a :class:`ConfigError`."""
    unknown = sorted(set(features) - set(kjt_keys))
    if unknown:
        raise ConfigError(f"{what} names item feature(s) {unknown} the model lacks; its item features are {list(kjt_keys)}")


def _per_key(kjt: KeyedJaggedTensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """``(values, lengths, weights)`` of each key, in key order."""
    b = kjt.stride()
    lengths = kjt.lengths()
    offsets = kjt.offsets()
    values, weights = kjt.values(), kjt.weights_or_none()
    out = []
    for f in range(len(kjt.keys())):
        start, end = int(offsets[f * b]), int(offsets[(f + 1) * b])
        out.append((values[start:end], lengths[f * b : (f + 1) * b], None if weights is None else weights[start:end]))
    return out


Part = tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None"]


def _masked_part(key: str, part: Part, default: int | str) -> Part:
    """One key's ``(values, lengths, weights)`` with every bag replaced by the default embedding."""
    values, lengths, weights = part
    if default == EMPTY:
        return values[:0], torch.zeros_like(lengths), None if weights is None else weights[:0]
    if isinstance(default, int) and not isinstance(default, bool) and default >= 0:
        b = lengths.shape[0]
        ones = None if weights is None else torch.ones(b, dtype=weights.dtype, device=weights.device)
        return torch.full((b,), default, dtype=values.dtype, device=values.device), torch.ones_like(lengths), ones
    raise ConfigError(f"default of masked feature {key!r} must be 'empty' or a row id >= 0, got {default!r}")


def _dropped_part(part: Part, rate: float, generator: torch.Generator | None) -> Part:
    """One key's part with each value dropped with probability ``rate`` (weight 0, or removed)."""
    values, lengths, weights = part
    if not values.numel():
        return part
    keep = torch.rand(values.shape[0], generator=generator).to(values.device) >= rate
    if weights is not None:
        return values, lengths, weights * keep.to(weights.dtype)
    bag = torch.repeat_interleave(torch.arange(lengths.shape[0], device=values.device), lengths)
    return values[keep], torch.zeros_like(lengths).index_add_(0, bag, keep.to(lengths.dtype)), None


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"value dropout rate must be in [0, 1), got {rate}")


def mask_features(
    kjt: KeyedJaggedTensor, masked: Collection[str], defaults: Mapping[str, int | str] | None = None
) -> KeyedJaggedTensor:
    """A copy of ``kjt`` with the features in ``masked`` replaced by their default embedding.

    Args:
        kjt: item features, F keys x B items.
        masked: keys to mask (each must be a key of ``kjt``).
        defaults: per key, ``"empty"`` (the default) or the id of a dedicated missing-value row.

    Returns:
        a new KJT with the same keys and batch size B.
    """
    keys = kjt.keys()
    check_features(keys, masked)
    defaults = dict(defaults or {})
    parts = [
        _masked_part(key, part, defaults.get(key, EMPTY)) if key in masked else part
        for key, part in zip(keys, _per_key(kjt), strict=True)
    ]
    return _concat(keys, parts, kjt.weights_or_none() is not None)


def _cat_weights(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor:
    """The weights of two parts of a weighted KJT, one after the other."""
    assert a is not None and b is not None  # every part of a weighted KJT carries its weights
    return torch.cat([a, b])


def _concat(keys: Sequence[str], parts: list, weighted: bool) -> KeyedJaggedTensor:
    values = torch.cat([p[0] for p in parts])
    lengths = torch.cat([p[1] for p in parts])
    weights = torch.cat([p[2] for p in parts]) if weighted else None
    return _kjt(keys, values, lengths, weights)


def drop_values(
    kjt: KeyedJaggedTensor, features: Collection[str], rate: float, generator: torch.Generator | None = None
) -> KeyedJaggedTensor:
    """Drop each value of the bags of ``features`` independently with probability ``rate``.

    Args:
        kjt: F keys x B items.
        features: the multi-valued keys to apply dropout to.
        rate: in [0, 1).
        generator: the random stream (CPU).

    Returns:
        a new KJT: weighted input keeps every value and sets the weight of dropped ones to 0; unweighted
        input loses the dropped values (lengths shrink).
    """
    _check_rate(rate)
    check_features(kjt.keys(), features, "value dropout")
    if rate == 0.0 or not features:
        return kjt
    keys = kjt.keys()
    parts = [
        _dropped_part(part, rate, generator) if key in features else part
        for key, part in zip(keys, _per_key(kjt), strict=True)
    ]
    return _concat(keys, parts, kjt.weights_or_none() is not None)


def concat_batches(first: KeyedJaggedTensor, second: KeyedJaggedTensor) -> KeyedJaggedTensor:
    """Stack two KJTs with the same keys along the batch: B1 + B2 items (view a then view b), so both
    views go through the item tower in one call."""
    if first.keys() != second.keys():
        raise ConfigError(f"cannot stack KJTs with different keys {first.keys()} and {second.keys()}")
    weighted = first.weights_or_none() is not None
    if weighted != (second.weights_or_none() is not None):
        raise ConfigError("cannot stack a weighted KJT with an unweighted one")
    parts = []
    for (va, la, wa), (vb, lb, wb) in zip(_per_key(first), _per_key(second), strict=True):
        parts.append((torch.cat([va, vb]), torch.cat([la, lb]), _cat_weights(wa, wb) if weighted else None))
    return _concat(first.keys(), parts, weighted)


def complementary_views(
    kjt: KeyedJaggedTensor,
    masked_a: Collection[str],
    masked_b: Collection[str],
    *,
    defaults: Mapping[str, int | str] | None = None,
    dropout_features: Collection[str] = (),
    dropout_rate: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[KeyedJaggedTensor, KeyedJaggedTensor]:
    """The two augmented views of a batch of items: view a masks ``masked_a``, view b masks ``masked_b``,
    then value dropout (independent draws per view) on ``dropout_features``.

    Returns:
        ``(view_a, view_b)``, each F keys x B items.
    """
    view_a = drop_values(mask_features(kjt, masked_a, defaults), dropout_features, dropout_rate, generator)
    view_b = drop_values(mask_features(kjt, masked_b, defaults), dropout_features, dropout_rate, generator)
    return view_a, view_b


def stacked_views(
    kjt: KeyedJaggedTensor,
    masked_a: Collection[str],
    masked_b: Collection[str],
    *,
    defaults: Mapping[str, int | str] | None = None,
    dropout_features: Collection[str] = (),
    dropout_rate: float = 0.0,
    generator: torch.Generator | None = None,
) -> KeyedJaggedTensor:
    """Both views stacked along the batch in one KJT of 2B items (view a, then view b): the same result as
    ``concat_batches(*complementary_views(...))`` (up to the random draws), built in one pass over the keys
    with a single KJT construction, for the training step."""
    keys = kjt.keys()
    check_features(keys, set(masked_a) | set(masked_b))
    check_features(keys, dropout_features, "value dropout")
    _check_rate(dropout_rate)
    defaults = dict(defaults or {})
    weighted = kjt.weights_or_none() is not None
    parts = []
    for key, part in zip(keys, _per_key(kjt), strict=True):
        views = []
        for masked in (masked_a, masked_b):
            if key in masked:
                views.append(_masked_part(key, part, defaults.get(key, EMPTY)))
            elif dropout_rate > 0 and key in dropout_features:
                views.append(_dropped_part(part, dropout_rate, generator))
            else:
                views.append(part)
        (va, na, wa), (vb, nb, wb) = views
        parts.append((torch.cat([va, vb]), torch.cat([na, nb]), _cat_weights(wa, wb) if weighted else None))
    return _concat(keys, parts, weighted)
