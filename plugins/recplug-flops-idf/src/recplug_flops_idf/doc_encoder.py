"""The document side: MiniLM with a masked-LM head tied to its word embeddings (imports torch).

all-MiniLM-L6-v2 ships its BERT encoder but no MLM head, so the head is ``logits = H W^T + b`` with the
decoder ``W`` initialised from (tied to, at the start) the word-embedding matrix ``E`` and no new
transform layer: the start is a real pretrained model, and the tied product already ranks a document's own
words and near-synonyms highest (e.g. "fibre" for "fiber"). The per-term bias ``b`` starts at ``init_bias``
(negative) so that only the strongest few hundred terms per document are active before training.

The head may cover all non-special terms or a subset (``term_ids``, e.g. the corpus's terms, which halves
the cost of the ``L x V`` projection on a CPU); its outputs are mapped back to vocabulary ids.

Weights: ``w(t) = max over positions of log(1 + ReLU(logit(t)))`` (= ``log1p(relu(max logit))``, as the
function is monotone), over every position of every window of a whole document
(:mod:`recplug_flops_idf.backbone`); special tokens never get a weight. With the lexical channel
(:mod:`recplug_flops_idf.lexical`) the head adds ``weight * w_lex(t, d)``, BM25's document-side term weight.
Output: ``B x V'`` (V' = ``len(term_ids)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from recplug.errors import IncompatibleFileError, InvalidInputError
from torch import nn

from recplug_flops_idf.lexical import LexicalChannel, tf_saturation

#: starting bias of an untrained head (with ``skip_scale`` 2.0, chosen on 100 held-out SciFact train queries)
DEFAULT_INIT_BIAS = -3.5
#: terms projected at once when a head looks for each text's active terms (see SparseHead.active_positions)
TERM_BLOCK = 1024


class SparseHead(nn.Module):
    """Packed hidden states of ``B`` texts -> ``B x V'`` non-negative term weights.

    The max over positions is found without gradient (in bfloat16 when ``bf16``); each active term's weight
    is then recomputed in float32 at its arg-max position, which is where the gradient of a max flows. The
    gradient is exact while the forward pass never keeps a ``T x V'`` tensor for backward, so training costs
    about one projection per step.

    Args:
        word_embeddings: ``V x H`` matrix the decoder starts from.
        term_ids: ``V'`` vocabulary ids the head scores (sorted, special tokens excluded).
        init_bias: starting value of the bias.
        bf16: find the arg-max positions with a bfloat16 projection (about 3x faster on CPUs with
            AVX512-BF16); the weights themselves are always float32.
        chunk_tokens: positions projected at once (bounds the ``chunk x V'`` logits buffer).
        skip_scale: if not 0, the head reads ``state + skip_scale * input word embedding`` at each position
            (an embedding skip): all-MiniLM-L6-v2's last layer, trained for mean-pooled sentence
            similarity, keeps little of each token's identity, and the skip gives the tied head back the
            lexical match a trained MLM head has on unmasked tokens.
        transform: put a trainable ``H x H`` linear map before the decoder (the dense layer of a BERT MLM
            head), started at the identity so that the untrained head is unchanged.
        lexical: the lexical channel (default: off); it is saved with the head, its average document length
            included.

    Example::

        >>> import numpy as np
        >>> import torch
        >>> head = SparseHead(torch.randn(50, 8), term_ids=np.arange(2, 50), init_bias=0.0)  # V=50, H=8, V'=48
        >>> states, offsets = torch.randn(7, 8), np.array([0, 3, 7])  # T=7 positions of B=2 texts
        >>> weights = head(states, offsets)
        >>> weights.shape  # B x V'
        torch.Size([2, 48])
        >>> head.to_csr(weights).shape  # B x V, vocabulary columns
        (2, 50)
    """

    term_ids: torch.Tensor
    skip_scale: torch.Tensor
    lexical: torch.Tensor
    init_bias: torch.Tensor
    columns: torch.Tensor
    input_embeddings: torch.Tensor

    def __init__(self, word_embeddings: torch.Tensor, term_ids: np.ndarray, init_bias: float = -2.5,
                 bf16: bool = False, chunk_tokens: int = 4096, skip_scale: float = 0.0, transform: bool = False,
                 lexical: LexicalChannel | None = None) -> None:
        super().__init__()
        self.bf16 = bool(bf16)
        self.chunk_tokens = int(chunk_tokens)
        term_ids = np.asarray(term_ids, dtype=np.int64)
        self.vocab_size = int(word_embeddings.shape[0])
        self.register_buffer("term_ids", torch.as_tensor(term_ids))
        self.register_buffer("skip_scale", torch.tensor(float(skip_scale)))
        self.register_buffer("lexical", (lexical or LexicalChannel()).as_tensor())
        self.register_buffer("init_bias", torch.tensor(float(init_bias)))  # the bias of rows a file does not set
        columns = torch.full((self.vocab_size,), -1, dtype=torch.long)
        columns[torch.as_tensor(term_ids)] = torch.arange(len(term_ids))
        self.register_buffer("columns", columns, persistent=False)  # vocabulary id -> output column (or -1)
        # the (frozen) model's own matrix, shared rather than copied: V x H float32 is 47 MB for MiniLM
        self.register_buffer("input_embeddings", word_embeddings.detach().float(), persistent=False)
        self.weight = nn.Parameter(word_embeddings.detach()[self.term_ids].clone().float())
        self.bias = nn.Parameter(torch.full((len(term_ids),), float(init_bias)))
        self.transform: nn.Linear | None = None
        if transform:
            hidden = int(word_embeddings.shape[1])
            self.transform = nn.Linear(hidden, hidden)
            with torch.no_grad():
                self.transform.weight.copy_(torch.eye(hidden))
                self.transform.bias.zero_()

    @property
    def lexical_channel(self) -> LexicalChannel:
        return LexicalChannel.from_tensor(self.lexical)

    def set_average_length(self, average_length: float) -> None:
        """Set the lexical channel's ``avgdl`` (scored positions per corpus document)."""
        channel = self.lexical_channel
        self.lexical.copy_(LexicalChannel(channel.weight, channel.k1, channel.b, float(average_length)).as_tensor())

    def lexical_weights(self, offsets: np.ndarray, token_ids: Any) -> torch.Tensor:
        """``B x V'`` float32: ``weight * w_lex`` of the ``B`` texts (zeros when the channel is off)."""
        channel = self.lexical_channel
        if not channel.active:
            return torch.zeros(len(offsets) - 1, len(self.term_ids))
        if token_ids is None:
            raise InvalidInputError("this head has a lexical channel: pass the T token ids of the states")
        columns = self.columns[torch.as_tensor(np.asarray(token_ids), dtype=torch.long)]
        return channel.weight * tf_saturation(columns, offsets, len(self.term_ids), channel)

    def head_input(self, values: torch.Tensor, token_ids: Any) -> torch.Tensor:
        """``T x H`` states plus ``skip_scale`` times each position's input word embedding, through the
        transform when there is one (float32)."""
        x = values.float()
        if float(self.skip_scale) != 0.0:
            if token_ids is None or len(token_ids) != len(values):
                raise InvalidInputError("this head adds the input word embeddings: pass the T token ids of the states")
            x = x + self.skip_scale * self.input_embeddings[torch.as_tensor(token_ids, dtype=torch.long)]
        return x if self.transform is None else self.transform(x)

    @torch.no_grad()
    def active_positions(self, values: torch.Tensor, offsets: np.ndarray) -> tuple[torch.Tensor, ...]:
        """``(rows, cols, positions)`` of every term whose max logit is positive, and where that max is."""
        dtype = torch.bfloat16 if self.bf16 else torch.float32
        weight_t, bias = self.weight.detach().T.to(dtype), self.bias.detach().to(dtype)
        threshold = -bias
        blocks = [(j, min(j + TERM_BLOCK, len(bias))) for j in range(0, len(bias), TERM_BLOCK)]
        rows, cols, positions = [], [], []
        text = 0
        while text < len(offsets) - 1:  # a chunk: consecutive texts, about chunk_tokens positions
            last = int(np.searchsorted(offsets, offsets[text] + self.chunk_tokens, side="right")) - 1
            last = min(max(last, text + 1), len(offsets) - 1)
            base = int(offsets[text])
            states = values[base : int(offsets[last])].to(dtype)
            bounds = [(int(offsets[i]) - base, int(offsets[i + 1]) - base) for i in range(text, last)]
            # Per text, the max over its positions of the logit without the bias (amax: values only), compared
            # with -bias. The chunk x V' logits are made one block of terms at a time: a block (chunk x
            # TERM_BLOCK) stays in the CPU's cache while its per-text maxima are read, about 1.5x faster than
            # writing the whole chunk x V' matrix to memory and reading it back (measured on 2 AVX2 cores).
            hits: list[list[torch.Tensor]] = [[] for _ in bounds]
            for lo, hi in blocks:
                logits = states @ weight_t[:, lo:hi]
                for k, (a, b) in enumerate(bounds):
                    found = torch.nonzero(logits[a:b].amax(dim=0) > threshold[lo:hi]).squeeze(1)
                    if len(found):
                        hits[k].append(found + lo)
            # where the max sits is looked up only for the few hundred active terms of each text
            for k, (a, b) in enumerate(bounds):
                col = torch.cat(hits[k]) if hits[k] else torch.zeros(0, dtype=torch.long)
                rows.append(torch.full_like(col, text + k))
                cols.append(col)
                positions.append((states[a:b] @ weight_t[:, col]).argmax(dim=0) + a + base)
            text = last
        return torch.cat(rows), torch.cat(cols), torch.cat(positions)

    def forward(self, values: torch.Tensor, offsets: np.ndarray, token_ids: Any = None,
                lexical: bool = True) -> torch.Tensor:
        """``T x H`` packed states, ``B + 1`` offsets (and ``T`` token ids for the embedding skip and the lexical
        channel) -> ``B x V'`` weights ``log(1 + ReLU(max over positions of logit))`` (float32, differentiable
        in the parameters and ``values``), plus :meth:`lexical_weights` unless ``lexical=False``."""
        offsets = np.asarray(offsets, dtype=np.int64)
        if len(offsets) < 2 or np.any(np.diff(offsets) <= 0) or offsets[-1] != len(values):
            raise InvalidInputError(f"offsets must rise strictly from 0 to {len(values)} (every text needs a position)")
        values = self.head_input(values, token_ids)
        rows, cols, positions = self.active_positions(values, offsets)
        logit = (values[positions] * self.weight[cols]).sum(-1) + self.bias[cols]
        out = torch.zeros(len(offsets) - 1, len(self.term_ids), dtype=torch.float32)
        out = out.index_put((rows, cols), torch.log1p(torch.relu(logit)))
        return out + self.lexical_weights(offsets, token_ids) if lexical and self.lexical_channel.active else out

    def to_csr(self, weights: torch.Tensor) -> Any:
        """``B x V'`` weights -> CSR ``B x V`` float32 with vocabulary column ids."""
        import scipy.sparse as sp

        w = weights.detach().float().numpy()
        rows, cols = np.nonzero(w)
        ids = self.term_ids.numpy()
        return sp.csr_matrix((w[rows, cols], (rows, ids[cols])), shape=(w.shape[0], self.vocab_size), dtype=np.float32)

    def save(self, path: Path, compact: bool = False) -> None:
        """Write the head's parameters atomically (torch file, read back with ``weights_only=True``).

        ``compact=True`` writes only what training changed: the bias of the trained terms (float32) and, for each
        decoder row that moved away from its tied start (the word embedding), the difference in float16 (a
        change of about 1e-3 on entries of about 5e-2 keeps about 3 significant digits). Rows a training run never
        touched are not written: :func:`load_head` rebuilds them from the model's word embeddings. A head with a
        transform stores it in float32.
        """
        from recplug.fileio import atomic_save_with

        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        if compact:
            delta = (self.weight.detach() - self.input_embeddings[self.term_ids]).cpu()
            changed = torch.nonzero(delta.abs().amax(dim=1) > 0).squeeze(1)
            state.pop("weight")
            state["delta_ids"] = self.term_ids[changed].clone()
            state["weight_delta"] = delta[changed].to(torch.float16)
        atomic_save_with(path, lambda tmp: torch.save(state, tmp))

    @torch.no_grad()
    def load(self, path: Path) -> SparseHead:
        """Load parameters saved by :meth:`save` (full or compact).

        The file's terms must be among this head's: a head over more terms (e.g. the whole vocabulary) keeps its
        own rows, the tied word embeddings and its starting bias, for the terms the file does not score (see
        :func:`load_head`). A file that scores a term this head does not is an :class:`IncompatibleFileError`.
        """
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = state.get("term_ids")
        if saved is None:
            raise IncompatibleFileError(f"{path}: no term_ids, not a saved sparse head")
        if len(saved) and (int(saved.max()) >= self.vocab_size or int(saved.min()) < 0):
            raise IncompatibleFileError(f"{path}: scores term ids beyond this model's {self.vocab_size}-term vocabulary")
        rows = self.columns[saved.long()]
        if (rows < 0).any():
            raise IncompatibleFileError(f"{path}: the saved head scores {int((rows < 0).sum())} term ids this "
                                        "encoder does not")
        try:
            if "weight" in state:
                self.weight[rows] = state["weight"].float()
            else:
                delta_rows = self.columns[state["delta_ids"].long()]
                self.weight[delta_rows] = self.input_embeddings[state["delta_ids"].long()] + state["weight_delta"].float()
            self.bias[rows] = state["bias"].float()
            self.skip_scale.copy_(state.get("skip_scale", torch.tensor(0.0)))
            self.lexical.copy_(state.get("lexical", LexicalChannel().as_tensor()))  # heads saved before the channel
            self.init_bias.copy_(state.get("init_bias", self.init_bias))
            names = {k for k in state if k.startswith("transform.")}
            if bool(names) != (self.transform is not None):
                raise RuntimeError("transform layer present in only one of the file and the head")
            if self.transform is not None:
                self.transform.load_state_dict({k.removeprefix("transform."): state[k] for k in names})
        except (RuntimeError, KeyError, IndexError) as exc:  # missing, unexpected or mis-shaped tensors
            raise IncompatibleFileError(f"{path}: not a head of this shape ({exc})") from exc
        return self


def load_head(path: Path, word_embeddings: torch.Tensor, bf16: bool = False,
              term_ids: np.ndarray | None = None) -> SparseHead:
    """A :class:`SparseHead` with the parameters saved at ``path``.

    Args:
        term_ids: the vocabulary ids the head scores (default: the file's). Pass every non-special id to score the
            whole vocabulary: a head trained on one corpus has trained rows only for that corpus's terms (14,750 of
            30,522 for SciFact), and on another corpus those it lacks would get no weight at all, not even from the
            lexical channel. The other terms fall back to the untrained tied head (word embedding row, starting
            bias), the head the trained rows started from, so their weights are on the same scale.
    """
    from recplug.errors import ConfigError, CorruptFileError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = state["term_ids"].numpy()
        lexical = LexicalChannel.from_tensor(state["lexical"]) if "lexical" in state else None
        init_bias = float(state["init_bias"]) if "init_bias" in state else DEFAULT_INIT_BIAS
    except (OSError, RuntimeError, KeyError, EOFError, ValueError, ConfigError) as exc:
        raise CorruptFileError(f"{path}: not a saved sparse head ({exc})") from exc
    return SparseHead(word_embeddings, saved if term_ids is None else term_ids, init_bias=init_bias, bf16=bf16,
                      skip_scale=float(state.get("skip_scale", 0.0)), transform="transform.weight" in state,
                      lexical=lexical).load(path)


class SparseDocEncoder(nn.Module):
    """MiniLM backbone + :class:`SparseHead`.

    Args:
        special_ids: ids of special tokens (never scored).
        model_dir: directory of the BERT weights (default: the bundled all-MiniLM-L6-v2).
        term_ids: vocabulary ids to score (default: every non-special id).
        init_bias: starting value of the head's bias.
        bf16: bfloat16 backbone and arg-max projection (see :class:`SparseHead`).
        skip_scale: weight of the input word embedding added to each position's state before the head
            (2.0 with bias -3.5: the best untrained start on 100 held-out SciFact train queries).
        lexical_weight: weight of the head's lexical channel (0: off; see :mod:`recplug_flops_idf.lexical`).

    Example (a tiny random BERT in a temporary folder instead of MiniLM)::

        >>> import tempfile
        >>> import numpy as np
        >>> import torch
        >>> from transformers import BertConfig, BertModel
        >>> config = BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                     intermediate_size=16)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     BertModel(config).save_pretrained(folder)
        ...     encoder = SparseDocEncoder(special_ids=np.array([0, 1]), model_dir=folder)  # V'=30 scored terms
        >>> ids = torch.tensor([[0, 5, 7, 1]])  # [CLS] w5 w7 [SEP]: one text, T=4 positions
        >>> states = encoder.bert(input_ids=ids).last_hidden_state[0]  # T x H
        >>> encoder.head(states, np.array([0, 4]), token_ids=ids[0].numpy()).shape  # B x V'
        torch.Size([1, 30])
    """

    def __init__(self, special_ids: np.ndarray, model_dir: str | Path | None = None,
                 term_ids: np.ndarray | None = None, init_bias: float = DEFAULT_INIT_BIAS, bf16: bool = False,
                 skip_scale: float = 2.0, lexical_weight: float = 0.0) -> None:
        super().__init__()
        from recplug_flops_idf.backbone import load_backbone

        self.bert = load_backbone(model_dir)
        self.bf16 = bool(bf16)
        embeddings = self.bert.embeddings.word_embeddings.weight
        if term_ids is None:
            term_ids = np.setdiff1d(np.arange(embeddings.shape[0]), special_ids)
        self.head = SparseHead(embeddings, np.setdiff1d(term_ids, special_ids), init_bias, bf16,
                               skip_scale=skip_scale, lexical=LexicalChannel(weight=lexical_weight))


@torch.no_grad()
def encode_documents(model: SparseDocEncoder, tokenizer: Any, texts: list[str], window: int = 512,
                     max_windows: int | None = None, batch_size: int = 16, progress: bool = False,
                     lexical: bool = True, first_windows: Any = None, later: Any = None) -> Any:
    """Encode ``N`` whole texts (every ``window``-token window, see :mod:`recplug_flops_idf.backbone`) into a
    CSR ``N x V`` float32 matrix of term weights (``lexical=False``: the learned part only, without the lexical
    channel). ``first_windows``: the texts' first-window states from an earlier pass
    (:func:`recplug_flops_idf.backbone.first_windows_of`); only the later windows then go through the backbone, or
    none when ``later`` holds their states too (:func:`recplug_flops_idf.backbone.cached_later_windows`)."""
    import scipy.sparse as sp
    from recplug_eval import progress_bar

    from recplug_flops_idf.backbone import encode_hidden

    was_training = model.training
    model.eval()
    blocks = []
    step = 8 * batch_size
    for start in progress_bar(range(0, len(texts), step), desc="sparse encoder: documents", unit="block",
                              disable=not progress):
        stop = min(start + step, len(texts))
        states = encode_hidden(texts[start:stop], tokenizer, model.bert, window, max_windows, batch_size,
                               bf16=model.bf16,
                               first_windows=None if first_windows is None else first_windows.select(range(start, stop)),
                               later=None if later is None else later.select(np.arange(start, stop)))
        blocks.append(encode_hidden_states(model.head, states, lexical=lexical))
    model.train(was_training)
    if not blocks:
        return sp.csr_matrix((0, model.head.vocab_size), dtype=np.float32)
    return sp.vstack(blocks, format="csr")


@torch.no_grad()
def encode_hidden_states(head: SparseHead, states: Any, batch_size: int = 64, progress: bool = False,
                         lexical: bool = True) -> Any:
    """Encode cached backbone states (a :class:`recplug_flops_idf.backbone.HiddenStates`) into CSR ``N x V``
    (``lexical=False``: without the lexical channel)."""
    import scipy.sparse as sp
    from recplug_eval import progress_bar

    blocks = []
    for start in progress_bar(range(0, len(states), batch_size), desc="sparse head", unit="batch",
                              disable=not progress):
        rows = np.arange(start, min(start + batch_size, len(states)))
        values, offsets, token_ids = states.gather(rows)
        blocks.append(head.to_csr(head(torch.from_numpy(values), offsets, token_ids, lexical=lexical)))
    return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, head.vocab_size), dtype=np.float32)


@torch.no_grad()
def lexical_documents(head: SparseHead, token_ids: list[np.ndarray], batch_size: int = 256) -> Any:
    """CSR ``N x V`` float32: the head's lexical channel alone, ``weight * w_lex``, of ``N`` texts given as term ids
    (special tokens removed, the positions the backbone reads). Cheap (counting, no model): the part of a
    document's weights that depends on the corpus (its ``avgdl``), added to the cached learned part."""
    import scipy.sparse as sp

    blocks = []
    for start in range(0, len(token_ids), batch_size):
        part = token_ids[start : start + batch_size]
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in part])]).astype(np.int64)
        flat = np.concatenate(part).astype(np.int64) if part else np.zeros(0, np.int64)
        blocks.append(head.to_csr(head.lexical_weights(offsets, flat)))
    return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, head.vocab_size), dtype=np.float32)
