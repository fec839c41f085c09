"""One pass of the MiniLM backbone over a corpus, reused by the dense baseline and the sparse head.

all-MiniLM-L6-v2's sentence embedding is the mask-weighted mean of its last hidden states, L2-normalised
(its sentence-transformers modules: Transformer -> Pooling(mean) -> Normalize). The sparse document head
reads the same hidden states. Computing them once lets a frozen-backbone student train and encode on a
2-core machine; the hidden states are kept in float16 (N x L x 384).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class HiddenStates:
    """Backbone outputs of ``N`` texts.

    Attributes:
        hidden: ``N x L x H`` float16 last hidden states (zero past each text's length).
        lengths: ``N`` int32 token counts, [CLS] and [SEP] included.
        dense: ``N x H`` float32 unit-length sentence embeddings (mean pooling + normalisation).
    """

    hidden: np.ndarray
    lengths: np.ndarray
    dense: np.ndarray

    def mask(self, rows: np.ndarray) -> np.ndarray:
        """``len(rows) x L`` attention mask (1 for real tokens)."""
        return (np.arange(self.hidden.shape[1])[None, :] < self.lengths[rows, None]).astype(np.int64)

    def save(self, path: Path) -> None:
        """Write an uncompressed npz atomically."""
        from recplug.fileio import atomic_writer

        with atomic_writer(path) as handle:
            np.savez(handle, hidden=self.hidden, lengths=self.lengths, dense=self.dense)

    @classmethod
    def load(cls, path: Path) -> HiddenStates:
        """Read what :meth:`save` wrote (no pickle)."""
        with np.load(path, allow_pickle=False) as data:
            return cls(hidden=data["hidden"], lengths=data["lengths"], dense=data["dense"])


def load_backbone(model_dir: str | Path | None = None) -> Any:
    """The all-MiniLM-L6-v2 ``BertModel`` (no pooler) in eval mode, loaded offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    from recplug_flops_idf.vocab import default_model_dir

    hf_logging.set_verbosity_error()
    return BertModel.from_pretrained(str(model_dir or default_model_dir()), add_pooling_layer=False).eval()


def encode_hidden(texts: list[str], tokenizer: Any, backbone: Any, max_length: int = 128, batch_size: int = 32,
                  keep_hidden: bool = True, progress: bool = False) -> HiddenStates:
    """Run the backbone over ``texts`` (truncated to ``max_length`` tokens)."""
    import torch
    from tqdm.auto import tqdm

    n = len(texts)
    hidden = np.zeros((n if keep_hidden else 0, max_length, backbone.config.hidden_size), np.float16)
    lengths = np.zeros(n, np.int32)
    dense = np.zeros((n, backbone.config.hidden_size), np.float32)
    with torch.no_grad():
        for start in tqdm(range(0, n, batch_size), desc="backbone", disable=not progress, unit="batch"):
            enc = tokenizer(texts[start : start + batch_size], truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt", return_token_type_ids=False)
            out = backbone(**enc).last_hidden_state  # B x L x H
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1)
            dense[start : start + len(out)] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            lengths[start : start + len(out)] = enc["attention_mask"].sum(1).numpy()
            if keep_hidden:
                hidden[start : start + len(out), : out.shape[1]] = (out * mask).numpy().astype(np.float16)
    return HiddenStates(hidden=hidden, lengths=lengths, dense=dense)
