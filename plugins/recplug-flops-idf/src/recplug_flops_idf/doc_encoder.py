"""The document side: MiniLM with a masked-LM head tied to its word embeddings (imports torch).

all-MiniLM-L6-v2 ships its BERT encoder but no MLM head, so the head is ``logits = H W^T + b`` with the
decoder ``W`` initialised from (tied to, at the start) the word-embedding matrix ``E`` and no new
transform layer: the start is a real pretrained model, and the tied product already ranks a document's own
words and near-synonyms highest (e.g. "fibre" for "fiber"). The per-term bias ``b`` starts at ``init_bias``
(negative) so that only the strongest few hundred terms per document are active before training.

The head may cover all non-special terms or a subset (``term_ids``, e.g. the corpus's terms, which halves
the cost of the ``L x V`` projection on a CPU); its outputs are mapped back to vocabulary ids.

Weights: ``w(t) = max over positions of log(1 + ReLU(logit(t)))`` (= ``log1p(relu(max logit))``, as the
function is monotone); special tokens never get a weight. Output: ``B x V'`` (V' = ``len(term_ids)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from recplug.errors import IncompatibleFileError
from torch import nn


class SparseHead(nn.Module):
    """``B x L x H`` hidden states and ``B x L`` mask -> ``B x V'`` non-negative term weights.

    Args:
        word_embeddings: ``V x H`` matrix the decoder starts from.
        term_ids: ``V'`` vocabulary ids the head scores (sorted, special tokens excluded).
        init_bias: starting value of the bias.
        bf16: compute the ``L x V'`` projection in bfloat16 (about 2x faster on CPUs with AVX512-BF16);
            the pooled weights are returned in float32.
    """

    def __init__(self, word_embeddings: torch.Tensor, term_ids: np.ndarray, init_bias: float = -2.5,
                 bf16: bool = False) -> None:
        super().__init__()
        self.bf16 = bool(bf16)
        term_ids = np.asarray(term_ids, dtype=np.int64)
        self.vocab_size = int(word_embeddings.shape[0])
        self.register_buffer("term_ids", torch.as_tensor(term_ids))
        self.weight = nn.Parameter(word_embeddings.detach()[self.term_ids].clone().float())
        self.bias = nn.Parameter(torch.full((len(term_ids),), float(init_bias)))

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        dtype = torch.bfloat16 if self.bf16 else torch.float32
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            logits = hidden.to(dtype) @ self.weight.T.to(dtype) + self.bias.to(dtype)  # B x L x V'
        logits = logits.masked_fill(attention_mask[..., None] == 0, float("-inf"))
        return torch.log1p(torch.relu(logits.max(dim=1).values.float()))  # B x V'

    def to_csr(self, weights: torch.Tensor) -> Any:
        """``B x V'`` weights -> CSR ``B x V`` float32 with vocabulary column ids."""
        import scipy.sparse as sp

        w = weights.detach().float().numpy()
        rows, cols = np.nonzero(w)
        ids = self.term_ids.numpy()
        return sp.csr_matrix((w[rows, cols], (rows, ids[cols])), shape=(w.shape[0], self.vocab_size), dtype=np.float32)

    def save(self, path: Path) -> None:
        """Write the head's parameters atomically (torch file, read back with ``weights_only=True``)."""
        from recplug.fileio import atomic_save_with

        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        atomic_save_with(path, lambda tmp: torch.save(state, tmp))

    def load(self, path: Path) -> SparseHead:
        """Load parameters saved by :meth:`save`; other term ids are an :class:`IncompatibleFileError`."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("term_ids") is None or not torch.equal(state["term_ids"], self.term_ids):
            raise IncompatibleFileError(f"{path}: the saved head scores other term ids than this encoder")
        self.load_state_dict(state)
        return self


def load_head(path: Path, word_embeddings: torch.Tensor, bf16: bool = False) -> SparseHead:
    """A :class:`SparseHead` with the term ids and parameters saved at ``path``."""
    from recplug.errors import CorruptFileError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        term_ids = state["term_ids"].numpy()
    except (OSError, RuntimeError, KeyError, EOFError) as exc:
        raise CorruptFileError(f"{path}: not a saved sparse head ({exc})") from exc
    return SparseHead(word_embeddings, term_ids, bf16=bf16).load(path)


class SparseDocEncoder(nn.Module):
    """MiniLM backbone + :class:`SparseHead`.

    Args:
        special_ids: ids of special tokens (never scored).
        model_dir: directory of the BERT weights (default: the bundled all-MiniLM-L6-v2).
        term_ids: vocabulary ids to score (default: every non-special id).
        init_bias: starting value of the head's bias.
        bf16: bfloat16 head projection (see :class:`SparseHead`).
    """

    def __init__(self, special_ids: np.ndarray, model_dir: str | Path | None = None,
                 term_ids: np.ndarray | None = None, init_bias: float = -2.5, bf16: bool = False) -> None:
        super().__init__()
        from recplug_flops_idf.backbone import load_backbone

        self.bert = load_backbone(model_dir)
        embeddings = self.bert.embeddings.word_embeddings.weight
        if term_ids is None:
            term_ids = np.setdiff1d(np.arange(embeddings.shape[0]), special_ids)
        self.head = SparseHead(embeddings, np.setdiff1d(term_ids, special_ids), init_bias, bf16)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``B x L`` token ids and mask -> ``B x V'`` term weights."""
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden, attention_mask)


@torch.no_grad()
def encode_documents(model: SparseDocEncoder, tokenizer: Any, texts: list[str], max_length: int = 128,
                     batch_size: int = 16, progress: bool = False) -> Any:
    """Encode ``N`` texts into a CSR ``N x V`` float32 matrix of term weights."""
    import scipy.sparse as sp
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    blocks = []
    for start in tqdm(range(0, len(texts), batch_size), desc="encode documents", disable=not progress):
        enc = tokenizer(texts[start : start + batch_size], truncation=True, max_length=max_length, padding=True,
                        return_tensors="pt", return_token_type_ids=False)
        blocks.append(model.head.to_csr(model(enc["input_ids"], enc["attention_mask"])))
    model.train(was_training)
    if not blocks:
        return sp.csr_matrix((0, model.head.vocab_size), dtype=np.float32)
    return sp.vstack(blocks, format="csr")


@torch.no_grad()
def encode_hidden_states(head: SparseHead, hidden: np.ndarray, lengths: np.ndarray, batch_size: int = 32,
                         progress: bool = False) -> Any:
    """Encode cached backbone states (``N x L x H`` float16, ``N`` lengths) into CSR ``N x V``."""
    import scipy.sparse as sp
    from tqdm.auto import tqdm

    blocks = []
    positions = np.arange(hidden.shape[1])
    for start in tqdm(range(0, len(hidden), batch_size), desc="sparse head", disable=not progress):
        h = torch.from_numpy(hidden[start : start + batch_size].astype(np.float32))
        mask = torch.from_numpy((positions[None, :] < lengths[start : start + batch_size, None]).astype(np.int64))
        blocks.append(head.to_csr(head(h, mask)))
    return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, head.vocab_size), dtype=np.float32)
