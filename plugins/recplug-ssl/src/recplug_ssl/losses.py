"""Contrastive losses on item embeddings: InfoNCE (Yao et al. 2021) and the spread-out terms.

Shapes: ``B`` items in the SSL batch, ``D`` embedding dimension. Every function normalises its inputs to
unit length itself (cosine similarity), so callers may pass raw tower outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from recplug.errors import ConfigError, InvalidInputError

#: Smallest temperature accepted: cosine logits are divided by τ in float32, and 1 / τ must stay finite
#: (τ = 1e-300 made every loss NaN); real settings are 0.01 .. 1.
MIN_TEMPERATURE = 1e-6


def check_temperature(temperature: float) -> float:
    """``temperature`` as a float; ``τ < MIN_TEMPERATURE`` (or NaN, infinity) is a :class:`ConfigError`."""
    ok = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not (ok and temperature >= MIN_TEMPERATURE and math.isfinite(temperature)):
        raise ConfigError(f"SSL temperature must be a finite number >= {MIN_TEMPERATURE:g}, got {temperature!r}")
    return float(temperature)


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    for view in (a, b):
        if not isinstance(view, torch.Tensor):
            raise InvalidInputError(f"item embeddings must be a B x D torch tensor, got {type(view).__name__}")
        if not view.dtype.is_floating_point:
            raise InvalidInputError(f"item embeddings must be floating point, got {view.dtype}")
    if a.dim() != 2 or a.shape != b.shape:
        raise InvalidInputError(f"InfoNCE needs two B x D views of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] < 2:
        raise InvalidInputError(f"InfoNCE needs at least 2 items in the batch (in-batch negatives), got {a.shape[0]}")
    if a.shape[1] < 1:
        raise InvalidInputError(f"item embeddings have no dimensions (shape {tuple(a.shape)})")


def cosine_logits(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """``cos(a_i, b_j) / τ`` for all pairs: B x B."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature


def info_nce(view_a: torch.Tensor, view_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE with in-batch negatives (Yao et al. 2021, eq. 3).

    ``L = -1/B Σ_i log( exp(s(a_i, b_i)/τ) / Σ_j exp(s(a_i, b_j)/τ) )`` with ``s`` the cosine similarity;
    item ``i``'s other view is its positive, the other items' second views are its negatives.

    Args:
        view_a, view_b: B x D embeddings of the two augmented views of the same B items.
        temperature: τ > 0.

    Returns:
        a scalar tensor.
    """
    temperature = check_temperature(temperature)
    _check_pair(view_a, view_b)
    logits = cosine_logits(view_a, view_b, temperature)
    labels = torch.arange(view_a.shape[0], device=view_a.device)
    return F.cross_entropy(logits, labels)


def softmax_spread_out(embeddings: torch.Tensor, temperature: float) -> torch.Tensor:
    """Spread-out as a contrastive term with the item itself as its positive (how Yao et al. apply it).

    ``L = 1/B Σ_i log Σ_j exp(cos(e_i, e_j)/τ) − 1/τ``: the InfoNCE of a batch against itself. Its only
    gradient pushes different items apart on the unit sphere.

    Args:
        embeddings: B x D.
        temperature: τ > 0.
    """
    temperature = check_temperature(temperature)
    _check_pair(embeddings, embeddings)
    logits = cosine_logits(embeddings, embeddings, temperature)
    return torch.logsumexp(logits, dim=1).mean() - 1.0 / temperature


def off_diagonal_moments(embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and second moments ``(M1, M2)`` of ``cos(e_i, e_j)`` over the B(B−1) pairs ``i != j``."""
    _check_pair(embeddings, embeddings)
    unit = F.normalize(embeddings, dim=-1)
    sims = unit @ unit.T
    b = sims.shape[0]
    off = ~torch.eye(b, dtype=torch.bool, device=sims.device)
    pairs = sims[off]
    return pairs.mean(), pairs.pow(2).mean()


def global_orthogonal_regularization(embeddings: torch.Tensor) -> torch.Tensor:
    """Zhang et al. 2017 ("Learning Spread-out Local Feature Descriptors"), GOR:
    ``M1² + max(0, M2 − 1/D)`` over non-matching pairs, which drives the inner products of different items
    towards those of points drawn uniformly on the unit sphere (mean 0, second moment 1/D).

    Args:
        embeddings: B x D (normalised here).
    """
    m1, m2 = off_diagonal_moments(embeddings)
    return m1.pow(2) + torch.clamp(m2 - 1.0 / embeddings.shape[1], min=0.0)
