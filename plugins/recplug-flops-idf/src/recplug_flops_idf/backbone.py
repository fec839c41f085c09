"""One pass of the MiniLM backbone over a corpus, reused by the dense baseline and the sparse head.

all-MiniLM-L6-v2's sentence embedding is the mask-weighted mean of its last hidden states, L2-normalised
(its sentence-transformers modules: Transformer -> Pooling(mean) -> Normalize). The sparse document head
reads the same hidden states. Computing them once lets a frozen-backbone student train and encode on a
2-core machine.

Whole documents: a text longer than one window (``window`` tokens, [CLS] and [SEP] included, at most the
model's 512 positions) is cut into consecutive windows, each read by its own backbone pass; the sparse head
max-pools over every position of every window, so no part of a document is dropped. The states of one text
are its windows' states concatenated; a corpus is stored packed (``T x 384`` float16 plus offsets).
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from recplug.errors import ConfigError, IncompatibleFileError

log = logging.getLogger(__name__)


@dataclass
class HiddenStates:
    """Backbone outputs of ``N`` texts, packed.

    Attributes:
        values: ``T x H`` float16 last hidden states of every position of every window, text after text.
        offsets: ``N + 1`` int64; text ``i`` owns ``values[offsets[i]:offsets[i + 1]]``.
        dense: ``N x H`` float32 unit-length sentence embeddings (mean pooling over the first window).
        token_ids: ``T`` int32 vocabulary id at each position (the head's embedding skip reads them).
    """

    values: np.ndarray
    offsets: np.ndarray
    dense: np.ndarray
    token_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """``N`` positions per text (all windows, special tokens included)."""
        return np.diff(self.offsets)

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The states of ``rows`` packed in that order: ``(T' x H values, len(rows) + 1 offsets, T' token ids)``."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        if len(rows) == 0:
            return self.values[:0], offsets, self.token_ids[:0]
        index = np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows])
        return self.values[index], offsets, self.token_ids[index]

    def select(self, rows: Any) -> HiddenStates:
        """The states of ``rows`` (in that order) as their own :class:`HiddenStates`."""
        rows = np.asarray(rows, dtype=np.int64)
        values, offsets, token_ids = self.gather(rows)
        return HiddenStates(values, offsets, self.dense[rows], token_ids)

    def save(self, path: Path) -> None:
        """Write an uncompressed npz atomically."""
        from recplug.fileio import atomic_writer

        with atomic_writer(path) as handle:
            np.savez(handle, values=self.values, offsets=self.offsets, dense=self.dense, token_ids=self.token_ids)

    @classmethod
    def load(cls, path: Path) -> HiddenStates:
        """Read what :meth:`save` wrote (no pickle)."""
        with np.load(path, allow_pickle=False) as data:
            return cls(values=data["values"], offsets=data["offsets"], dense=data["dense"], token_ids=data["token_ids"])


@lru_cache(maxsize=4)
def model_checksum(model_dir: str | None = None) -> str:
    """SHA-256 over the backbone's ``config.json`` and weight files (``*.safetensors`` / ``*.bin``): the model part
    of every cache key, so that a changed model never reads another model's encodings."""
    from recplug.fileio import sha256_file
    from recplug_eval import minilm_dir

    directory = Path(model_dir) if model_dir else minilm_dir()
    files = sorted(p for p in directory.iterdir() if p.name == "config.json" or p.suffix in (".safetensors", ".bin"))
    if not files:
        raise ConfigError(f"{directory}: no config.json or weight files, not a BERT model folder")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}:{sha256_file(path)};".encode())
    return digest.hexdigest()


def load_backbone(model_dir: str | Path | None = None) -> Any:
    """The all-MiniLM-L6-v2 ``BertModel`` (no pooler) in eval mode, loaded offline."""
    from recplug_eval import huggingface_offline, minilm_dir

    huggingface_offline()
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from recplug_eval import is_terminal

    if not is_terminal():  # a log gets no "Loading weights" tqdm bar (carriage returns), as recplug_eval.pretrained
        hf_logging.disable_progress_bar()
    return BertModel.from_pretrained(str(model_dir or minilm_dir()), add_pooling_layer=False).eval()


@lru_cache(maxsize=4)
def shared_pass_length(model_dir: str | None = None) -> int:
    """Tokens per text of recplug_eval's shared sentence-transformers pass of the model in ``model_dir`` (``None``:
    the bundled all-MiniLM-L6-v2, 256): a backbone window of this length reads the same first window."""
    from recplug_eval import load_sentence_transformer

    return int(load_sentence_transformer(model_dir).max_seq_length)


def first_windows_of(texts: list[str], window: int, model_dir: str | Path | None = None,
                     desc: str = "MiniLM (shared pass)", bf16: bool = False) -> Any:
    """The first windows' states of ``texts`` from recplug_eval's shared sentence-transformers pass (the token-embedding
    cache that dense ``minilm`` and ``minilm-tokens`` read: one model pass per corpus for all three), or ``None``
    when that pass reads other windows than this backbone would. ``bf16``: the pass run under bfloat16 autocast (the
    one dense ``minilm`` runs where the CPU has native bfloat16, :func:`recplug_eval.use_bf16`).

    The pass truncates each text to the model's max sequence length, [CLS] and [SEP] included: the same ids, the
    same positions and the same last hidden states as this module's first ``window``-token window when ``window``
    is that length (256 for all-MiniLM-L6-v2). Returns a :class:`recplug.multivector.MultiVectorBatch` (``N`` sets,
    float16, memory-mapped when cached) for :func:`encode_hidden`'s ``first_windows``; computes and caches the pass
    when it is not cached yet.
    """
    from recplug_eval import MINILM_NAME, load_sentence_transformer, model_description, shared_token_embeddings

    if shared_pass_length(None if model_dir is None else str(model_dir)) != int(window):
        return None
    model = load_sentence_transformer(model_dir)
    label = MINILM_NAME if model_dir is None else Path(model_dir).name  # the dense encoder's label for its pass
    return shared_token_embeddings(model, model_description(label, window, bf16), list(texts), desc=desc)


def split_windows(ids: list[int], window: int, cls_id: int, sep_id: int, max_windows: int | None) -> list[list[int]]:
    """``[CLS] chunk [SEP]`` windows of at most ``window`` ids covering ``ids`` (one window if ``ids`` is empty)."""
    step = window - 2
    chunks = [ids[i : i + step] for i in range(0, max(len(ids), 1), step)][:max_windows]
    return [[cls_id, *chunk, sep_id] for chunk in chunks]


def unit_mean(states: Any) -> np.ndarray:
    """``L x H`` states of one window -> their mean, L2-normalised (sentence-transformers' mean pooling +
    Normalize): float32 ``H``."""
    import torch

    return torch.nn.functional.normalize(states.mean(0), dim=-1).numpy()


@dataclass
class WindowPlan:
    """The backbone windows of ``N`` texts (see :func:`split_windows`), stored text-major.

    Attributes:
        windows: ``W`` windows of ids, [CLS] and [SEP] included, text after text.
        owner: ``W`` int64: the text of each window.
        sizes: ``W`` int64: the positions of each window.
        starts: ``W + 1`` int64: where each window starts in the packed ``T x H`` layout of all windows.
        first: ``N`` int64: each text's first window.
    """

    windows: list[list[int]]
    owner: np.ndarray
    sizes: np.ndarray
    starts: np.ndarray
    first: np.ndarray

    @property
    def later_lengths(self) -> np.ndarray:
        """``N`` positions per text in its windows after the first (0 for a text of one window)."""
        ends = self.starts[np.r_[self.first[1:], len(self.windows)]]
        return ends - self.starts[self.first + 1]


def plan_windows(texts: list[str], tokenizer: Any, window: int, max_windows: int | None, limit: int) -> WindowPlan:
    """Tokenize ``texts`` (no special tokens, no length alarm) and cut them into windows; ``limit``: the model's
    maximum positions. Bad ``window`` / ``max_windows`` are a :class:`ConfigError`."""
    if not 3 <= window <= limit:
        raise ConfigError(f"window must be between 3 and the model's {limit} positions, got {window}")
    if max_windows is not None and max_windows < 1:
        raise ConfigError(f"max_windows must be at least 1, got {max_windows}")
    ids = tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False,
                    return_token_type_ids=False, verbose=False)["input_ids"]
    windows: list[list[int]] = []
    owner: list[int] = []
    for row, text_ids in enumerate(ids):
        parts = split_windows(text_ids, window, tokenizer.cls_token_id, tokenizer.sep_token_id, max_windows)
        windows += parts
        owner += [row] * len(parts)
    sizes = np.array([len(w) for w in windows], np.int64)
    owner_a = np.asarray(owner, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return WindowPlan(windows, owner_a, sizes, starts, np.searchsorted(owner_a, np.arange(len(ids))))


def run_windows(plan: WindowPlan, todo: np.ndarray, backbone: Any, batch_size: int, bf16: bool, progress: bool,
                store: Any, desc: str = "MiniLM backbone") -> None:
    """Run the backbone over the windows ``todo`` (longest first, so that a batch holds windows of about one
    length and little padding) and call ``store(window, states)`` with each window's ``L x H`` float32 states."""
    import torch
    from recplug_eval import progress_bar

    order = todo[np.argsort(-plan.sizes[todo], kind="stable")]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in progress_bar(range(0, len(order), batch_size), desc=desc, unit="batch", disable=not progress):
            chosen = order[start : start + batch_size]
            longest = int(plan.sizes[chosen].max())
            input_ids = torch.zeros(len(chosen), longest, dtype=torch.long)
            mask = torch.zeros(len(chosen), longest, dtype=torch.long)
            for i, w in enumerate(chosen):
                input_ids[i, : plan.sizes[w]] = torch.tensor(plan.windows[w])
                mask[i, : plan.sizes[w]] = 1
            out = backbone(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()  # B x L x H
            for i, w in enumerate(chosen):
                store(int(w), out[i, : plan.sizes[w]])


def later_windows(texts: list[str], tokenizer: Any, backbone: Any, window: int, max_windows: int | None = None,
                  batch_size: int = 16, bf16: bool = False, progress: bool = False) -> HiddenStates:
    """The states of every window of ``texts`` but the first: what :func:`encode_hidden` runs the backbone for when
    the first windows come from the shared pass. Text ``i`` owns ``values[offsets[i]:offsets[i + 1]]`` (none for a
    text of one window); ``dense`` is ``N x 0`` (the dense embedding reads the first window)."""
    plan = plan_windows(texts, tokenizer, window, max_windows, int(backbone.config.max_position_embeddings))
    lengths = plan.later_lengths
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.zeros((int(offsets[-1]), backbone.config.hidden_size), np.float16)
    token_ids = np.zeros(int(offsets[-1]), np.int32)
    second = plan.starts[plan.first + 1]  # where each text's later windows start in the all-windows layout

    def store(w: int, h: Any) -> None:
        text = plan.owner[w]
        at = int(offsets[text] + plan.starts[w] - second[text])
        values[at : at + len(h)] = h.numpy().astype(np.float16)
        token_ids[at : at + len(h)] = plan.windows[w]

    later = np.setdiff1d(np.arange(len(plan.windows)), plan.first)
    run_windows(plan, later, backbone, batch_size, bf16, progress, store, desc="MiniLM backbone (later windows)")
    return HiddenStates(values, offsets, np.zeros((len(texts), 0), np.float32), token_ids)


def cached_later_windows(texts: list[str], tokenizer: Any, backbone: Any, window: int, cache: Path,
                         max_windows: int | None = None, bf16: bool = False, model_dir: str | None = None,
                         progress: bool = False) -> HiddenStates:
    """:func:`later_windows` of ``texts``, read from / written to the folder ``cache`` (``later-<key>.npz``, keyed by
    the model's checksum, the window settings, ``bf16`` and the texts). With :func:`first_windows_of` it gives every
    state of a corpus from one backbone pass, whichever head or training run asks first."""
    from recplug_eval import cache_key

    key = cache_key({"model_sha256": model_checksum(model_dir), "window": int(window), "max_windows": max_windows,
                     "bf16": bool(bf16)}, "later-windows", texts)
    path = Path(cache) / f"later-{key}.npz"
    if path.exists():
        try:
            return HiddenStates.load(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # recomputed, never trusted
            log.warning("%s cannot be read (%s); recomputing", path, exc)
    states = later_windows(texts, tokenizer, backbone, window, max_windows, bf16=bf16, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    states.save(path)
    return states


def encode_hidden(texts: list[str], tokenizer: Any, backbone: Any, window: int = 512, max_windows: int | None = None,
                  batch_size: int = 16, keep_hidden: bool = True, bf16: bool = False,
                  progress: bool = False, first_windows: Any = None, later: HiddenStates | None = None) -> HiddenStates:
    """Run the backbone over every window of ``texts`` (see the module docstring).

    Args:
        window: tokens per backbone pass, [CLS] and [SEP] included (3 to the model's maximum positions).
        max_windows: read at most this many windows per text (``None``: whole texts).
        batch_size: windows per forward pass (windows are sorted by length to limit padding).
        keep_hidden: keep the per-position states (``False``: only the dense embeddings).
        bf16: run the backbone under bfloat16 autocast (about 2x faster on CPUs with AVX512-BF16).
        first_windows: the states of each text's first window from an earlier pass of the same model (a
            :class:`recplug.multivector.MultiVectorBatch` of ``N`` sets, ``T_i x H``: the shared sentence-transformers
            pass, :func:`first_windows_of`, when ``window`` is its max sequence length); only the later windows are
            run. A set whose length is not its text's first window is an :class:`IncompatibleFileError`.
        later: the states of each text's later windows from an earlier :func:`later_windows` with the same
            settings; with ``first_windows`` as well, the backbone does not run at all.
    """
    import torch

    plan = plan_windows(texts, tokenizer, window, max_windows, int(backbone.config.max_position_embeddings))
    n, width, first = len(plan.first), backbone.config.hidden_size, plan.first
    starts, sizes = plan.starts, plan.sizes
    values = np.zeros((int(starts[-1]) if keep_hidden else 0, width), np.float16)
    dense = np.zeros((n, width), np.float32)
    todo = np.arange(len(plan.windows))
    if first_windows is not None:
        if len(first_windows) != n:
            raise IncompatibleFileError(f"first_windows holds {len(first_windows)} texts, not {n}")
        given = np.diff(np.asarray(first_windows.offsets))
        wrong = np.flatnonzero(given != sizes[first])
        if len(wrong):
            i = int(wrong[0])
            raise IncompatibleFileError(f"first_windows: text {i} has {given[i]} states but its first {window}-token "
                                        f"window has {sizes[first[i]]} positions ({len(wrong)} texts differ): states of "
                                        "another tokenizer or sequence length")
        for row, w in enumerate(first):
            h = np.asarray(first_windows[row])
            if keep_hidden:
                values[starts[w] : starts[w + 1]] = h
            dense[row] = unit_mean(torch.from_numpy(h.astype(np.float32)))
        todo = np.setdiff1d(todo, first)
    if later is not None and keep_hidden:
        if len(later) != n or not np.array_equal(later.lengths, plan.later_lengths):
            raise IncompatibleFileError(f"later: states of {len(later)} texts whose windows after the first are not "
                                        f"these {n} texts' {window}-token windows (another tokenizer, window or "
                                        "max_windows)")
        for row, w in enumerate(first):
            values[starts[w + 1] : starts[w + 1] + later.lengths[row]] = later.values[later.offsets[row] : later.offsets[row + 1]]
        todo = np.intersect1d(todo, first)

    def store(w: int, h: Any) -> None:
        if keep_hidden:
            values[starts[w] : starts[w + 1]] = h.numpy().astype(np.float16)
        if first[plan.owner[w]] == w:
            dense[plan.owner[w]] = unit_mean(h)

    run_windows(plan, todo, backbone, batch_size, bf16, progress, store)
    if not keep_hidden:
        return HiddenStates(values, np.zeros(n + 1, np.int64), dense, np.zeros(0, np.int32))
    token_ids = np.fromiter((i for w in plan.windows for i in w), np.int32, int(starts[-1]))
    return HiddenStates(values, starts[np.r_[first, len(plan.windows)]], dense, token_ids)
