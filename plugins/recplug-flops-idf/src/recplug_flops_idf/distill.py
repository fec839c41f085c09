"""Heterogeneous ensemble distillation: teacher score normalisation and the student's losses.

Teachers (e.g. a dense bi-encoder and BM25) score the same ``C`` candidates of each of ``Q`` queries. Each
teacher's scores are min-max normalised per query, the teachers are averaged and scaled
(``score_scale``, 30 in the authors' code), and the student learns the result with a KL divergence plus
an InfoNCE ranking loss over in-batch and hard negatives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
from recplug.errors import InvalidInputError


def minmax_per_query(scores: np.ndarray, name: str = "teacher") -> np.ndarray:
    """``Q x C`` scores mapped to [0, 1] per row (a constant row becomes 0); NaN or infinity is an error."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 2:
        raise InvalidInputError(f"{name}: expected Q x C scores with C >= 2, got shape {s.shape}")
    bad = ~np.isfinite(s)
    if bad.any():
        raise InvalidInputError(f"{name}: scores contain NaN or infinity (first at query row {int(np.argwhere(bad)[0][0])})")
    low, high = s.min(axis=1, keepdims=True), s.max(axis=1, keepdims=True)
    return (s - low) / np.maximum(high - low, 1e-6)


def ensemble_scores(teachers: Mapping[str, np.ndarray], scale: float = 30.0) -> np.ndarray:
    """Mean of the min-max normalised teachers, times ``scale``: ``Q x C`` float32."""
    if not teachers:
        raise InvalidInputError("no teacher scores given")
    shapes = {name: np.shape(s) for name, s in teachers.items()}
    if len(set(shapes.values())) != 1:
        raise InvalidInputError(f"teacher score shapes differ: {shapes}")
    total = cast(np.ndarray, sum(minmax_per_query(s, name) for name, s in teachers.items()))  # >= 1 array: an array
    return (scale * total / len(teachers)).astype(np.float32)


def kl_distillation(student: Any, teacher: Any) -> Any:
    """``KL(softmax(teacher) || softmax(student))`` summed over the ``C`` candidates, mean over ``Q``."""
    import torch

    log_p = torch.log_softmax(student, dim=-1)
    target = torch.softmax(teacher, dim=-1)
    return torch.nn.functional.kl_div(log_p, target, reduction="batchmean")


def contrastive_loss(scores: Any, positives: Any) -> Any:
    """InfoNCE: ``B x M`` scores of each query against every document of the batch, ``B`` positive columns."""
    import torch

    return torch.nn.functional.cross_entropy(scores, positives)
