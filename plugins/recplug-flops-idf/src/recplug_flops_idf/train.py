"""Training the sparse document head with ensemble distillation and a FLOPS regularizer.

The backbone stays frozen and its hidden states come from a cache (:mod:`recplug_flops_idf.backbone`, whole
documents): on a 2-core CPU the ``T x V`` projection is what one can afford, and the head's exact arg-max
gradient (:class:`recplug_flops_idf.doc_encoder.SparseHead`) keeps backward cheap. Per step, ``B`` queries
each bring ``C`` candidates (positive first, then hard negatives) with ensemble teacher scores::

    d = head(states of the candidates)            (B*C) x V'  (learned weights + lexical channel, if any)
    q = binary(query terms) * reg.term_weights(idf)   B x V'
    loss = kl_weight * KL(teacher || q.d over own C) + contrastive_weight * InfoNCE(q.d over all B*C)
           + reg.schedule(step) * sum(reg(batch, {"doc_term_weights": learned part of d}).values())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from recplug.errors import ConfigError, InvalidInputError


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_head`.

    Attributes:
        steps: optimizer steps.
        queries_per_batch: ``B``.
        lr: learning rate of the decoder matrix; ``bias_lr`` that of the per-term bias; ``transform_lr`` that
            of the head's transform (when it has one).
        kl_weight, contrastive_weight: weights of the two ranking losses.
        seed: sampling seed.
        log_every: steps between history records.
    """

    steps: int = 100
    queries_per_batch: int = 4
    lr: float = 1e-4
    bias_lr: float = 1e-2
    transform_lr: float = 1e-4
    kl_weight: float = 1.0
    contrastive_weight: float = 1.0
    seed: int = 0
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.queries_per_batch <= 0:
            raise ConfigError("steps and queries_per_batch must be positive")
        if self.lr <= 0 or self.bias_lr <= 0 or self.transform_lr <= 0:
            raise ConfigError("learning rates must be positive")


@dataclass(frozen=True)
class TrainingExample:
    """One query: its unique vocabulary term ids, ``C`` candidate rows (positive first) and ``C`` teacher scores."""

    query_terms: np.ndarray
    doc_rows: np.ndarray
    teacher: np.ndarray


def check_examples(examples: Sequence[TrainingExample]) -> int:
    """Validate the examples; returns ``C``."""
    if not examples:
        raise InvalidInputError("no training examples")
    sizes = {len(e.doc_rows) for e in examples}
    if len(sizes) != 1 or min(sizes) < 2:
        raise InvalidInputError(f"every example needs the same number C >= 2 of candidates, got {sorted(sizes)}")
    for i, e in enumerate(examples):
        if len(e.teacher) != len(e.doc_rows):
            raise InvalidInputError(f"example {i}: {len(e.teacher)} teacher scores for {len(e.doc_rows)} candidates")
        if not np.isfinite(e.teacher).all():
            raise InvalidInputError(f"example {i}: teacher scores contain NaN or infinity")
        if len(e.query_terms) == 0:
            raise InvalidInputError(f"example {i}: the query has no terms")
    return sizes.pop()


def train_head(head: Any, states: Any, examples: Sequence[TrainingExample], regularizer: Any, idf: np.ndarray,
               config: TrainConfig, progress: bool = False) -> list[dict[str, float]]:
    """Train ``head`` (a :class:`recplug_flops_idf.doc_encoder.SparseHead`) in place; returns the history.

    Args:
        states: cached backbone states of the corpus (:class:`recplug_flops_idf.backbone.HiddenStates`).
        examples: training queries with candidates given as rows of ``states``.
        regularizer: a ``flops`` / ``flops-idf`` regularizer (its ``term_weights`` sets the matching).
        idf: ``V`` corpus IDF.
    """
    import torch
    from recplug_eval import progress_bar

    from recplug_flops_idf.distill import contrastive_loss, kl_distillation

    c = check_examples(examples)
    term_ids = head.term_ids.numpy()
    column = np.full(head.vocab_size, -1, np.int64)
    column[term_ids] = np.arange(len(term_ids))
    match = regularizer.term_weights(torch.as_tensor(np.asarray(idf, np.float32)[term_ids]))
    rng = np.random.default_rng(config.seed)
    groups = [{"params": [head.weight], "lr": config.lr}, {"params": [head.bias], "lr": config.bias_lr}]
    if head.transform is not None:
        groups.append({"params": list(head.transform.parameters()), "lr": config.transform_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    history: list[dict[str, float]] = []
    head.train()
    order = rng.permutation(len(examples))
    cursor = 0
    for step in progress_bar(range(config.steps), desc=f"train ({regularizer.name})", unit="step", disable=not progress):
        if cursor + config.queries_per_batch > len(order):
            order, cursor = rng.permutation(len(examples)), 0
        batch = [examples[i] for i in order[cursor : cursor + config.queries_per_batch]]
        cursor += config.queries_per_batch
        b = len(batch)
        rows = np.concatenate([e.doc_rows for e in batch])
        values, offsets, token_ids = states.gather(rows)
        learned = head(torch.from_numpy(values), offsets, token_ids, lexical=False)  # (B*C) x V'
        d = learned + head.lexical_weights(offsets, token_ids) if head.lexical_channel.active else learned
        q = torch.zeros(b, len(term_ids))
        for i, e in enumerate(batch):
            cols = column[e.query_terms]
            q[i, cols[cols >= 0]] = 1.0
        q = q * match
        scores = q @ d.T  # B x (B*C)
        own = scores.reshape(b, b, c)[torch.arange(b), torch.arange(b)]  # B x C
        teacher = torch.as_tensor(np.stack([e.teacher for e in batch]), dtype=torch.float32)
        kl = kl_distillation(own, teacher)
        ce = contrastive_loss(scores, torch.arange(b) * c)
        parts = regularizer({}, {regularizer.key: learned})  # the lexical channel is fixed: not penalised
        reg = sum(parts.values())
        loss = config.kl_weight * kl + config.contrastive_weight * ce + regularizer.schedule(step) * reg
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % config.log_every == 0 or step == config.steps - 1:
            history.append({
                "step": step, "loss": loss.item(), "kl": kl.item(), "contrastive": ce.item(), "flops": float(reg.detach()),
                "lambda": regularizer.schedule(step), "doc_nnz": float((d > 0).sum(1).float().mean()),
            })
    head.eval()
    return history
