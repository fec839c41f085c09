#!/usr/bin/env python3
"""Write a new recplug plugin package that installs, lists and passes its conformance kit out of the box.

    python tools/new_plugin.py recplug-my-index --kind index            # writes plugins/recplug-my-index/
    python tools/new_plugin.py my-reg --kind regularizer --dest ../scratch  # writes ../scratch/my-reg/

Kinds and the component each one starts from (small, real, and checked by the matching kit of
:mod:`recplug.testing`):

* ``regularizer``: the mean squared L2 norm of one model output (``RegularizerConformance``);
* ``index``: brute-force inner-product top-k in NumPy, saved with a checked manifest (``IndexConformance``);
* ``encoder``: hashed bag-of-words dense vectors (``EncoderConformance``);
* ``compressor``: float32 torchrec tables with rows kept within an L2 norm (``CompressorConformance``).

The package follows the plugin contract: one entry point in the group ``recplug``; a ``plugin.py`` that
imports nothing heavy and returns typed records whose factories are ``lazy_factory("pkg.module:Class")``;
factories with explicit keyword options (a factory taking ``**kwargs`` must declare ``recplug_options``);
one ``recplug_demo_steps`` hook; tests that subclass the kit and build the component through the plugin
manager, as hosts do. Standard library only; refuses an existing destination or an invalid name.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import keyword
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
TORCHREC_EXTRA = (
    "# torchrec 1.8.0: on CPU machines install it with --no-deps (its fbgemm-gpu dependency is the CUDA build), "
    "see tools/env/setup.sh\n"
    'torchrec = ["torchrec==1.8.0"]\n'
)


@dataclass(frozen=True)
class Kind:
    """What differs between the kinds of plugin."""

    family: str  # the family name hosts use (pm.create(family, name))
    spec: str  # the record type
    hook: str  # the discovery hook
    module: str  # the module of the component
    suffix: str  # of the class name
    kit: str  # the conformance kit
    record_fields: str  # the record's typed fields (capabilities=..., output=...), as Python source, or ""
    record_imports: tuple[str, ...]  # what those fields need from ``recplug`` besides the record type
    dependencies: tuple[str, ...]
    extra: str  # optional-dependencies lines before `test`
    summary: str  # one line: what the starting component does


KINDS: dict[str, Kind] = {
    "regularizer": Kind(
        "regularizer", "RegularizerSpec", "recplug_regularizers", "regularizer", "Penalty",
        "RegularizerConformance", "", (), ("recplug", "torch>=2.4"), "",
        "mean squared L2 norm of one model output (B x D)",
    ),
    "index": Kind(
        "retrieval_index", "RetrievalIndexSpec", "recplug_retrieval_indexes", "index", "Index",
        "IndexConformance", "capabilities=IndexCapabilities(exact=True, supports_removal=True, supports_save=True),",
        ("IndexCapabilities",), ("recplug", "numpy>=1.26"), "",
        "brute-force inner-product top-k in NumPy, saved with a checked manifest",
    ),
    "encoder": Kind(
        "retrieval_encoder", "RetrievalEncoderSpec", "recplug_retrieval_encoders", "encoder", "Encoder",
        "EncoderConformance", 'output="dense",', (), ("recplug", "numpy>=1.26"), "",
        "hashed bag-of-words dense vectors (signed feature hashing, L2-normalised)",
    ),
    "compressor": Kind(
        "embedding_compressor", "EmbeddingCompressorSpec", "recplug_embedding_compressors", "tables", "Tables",
        "CompressorConformance", "capabilities=CompressorCapabilities(after_step=True, export=True),",
        ("CompressorCapabilities",), ("recplug", "torch>=2.4"), TORCHREC_EXTRA,
        "float32 torchrec embedding tables whose rows are kept within an L2 norm (max-norm)",
    ),
}

# ------------------------------------------------------------------------------------------------------------
# Templates. Placeholders: __NAME__ (distribution), __PKG__ (import package), __COMPONENT__ (component name),
# __CLASS__, __FAMILY__, __SPEC__, __HOOK__, __MODULE__, __KIT__, __RECORD_FIELDS__, __RECORD_IMPORTS__,
# __SUMMARY__, __DESCRIPTION__ ...
# ------------------------------------------------------------------------------------------------------------

PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]  # SPDX `license` and `license-files` (PEP 639)
build-backend = "setuptools.build_meta"

[project]
name = "__NAME__"
version = "0.1.0"
description = __DESCRIPTION_TOML__
readme = "README.md"
requires-python = ">=3.10"
license = "Apache-2.0"
__LICENSE_FILES__dependencies = __DEPENDENCIES__

[project.optional-dependencies]
__EXTRA__test = ["pytest>=8", "hypothesis>=6"]

[project.entry-points.recplug]
__NAME__ = "__PKG__.plugin"

[tool.setuptools.packages.find]
where = ["src"]
"""

README = """\
# __NAME__

__DESCRIPTION__

| family | name | what |
| --- | --- | --- |
| `__FAMILY__` | `__COMPONENT__` | __SUMMARY__ |

## Install

    pip install __NAME__            # or, in the recplug repository: .venv/bin/pip install -e plugins/__NAME__
    recplug plugins                 # lists __NAME__ and its component

## Use

```python
from recplug import load_plugin_manager

component = load_plugin_manager().create("__FAMILY__", "__COMPONENT__"__USE_ARGS__)
```

## Tests

    pip install "__NAME__[test]" && pytest tests/   # the recplug conformance kit `__KIT__`

## Benchmark

| setting | result |
| --- | --- |
| _to do_ | |
"""

INIT = '''\
"""__DESCRIPTION__"""

__version__ = "0.1.0"
'''

PLUGIN = '''\
"""Hook implementations of __NAME__ (loaded through its entry point in the group ``recplug``).

This module imports nothing heavy: the factory imports ``__PKG__.__MODULE__`` (and torch, faiss, ...) only
when a host builds the component. Options are the keyword arguments of ``__CLASS__.__init__``; a factory
that takes ``**kwargs`` must declare them in a ``recplug_options`` attribute so that misspelled options fail.
"""

from __future__ import annotations

from recplug import __RECORD_IMPORTS__


@hookimpl
def __HOOK__() -> list[__SPEC__]:
    return [
        __SPEC__(
            "__COMPONENT__",
            factory=lazy_factory("__PKG__.__MODULE__:__CLASS__"),
            description="__SUMMARY__",__RECORD_FIELDS__
        )
    ]


@hookimpl
def recplug_demo_steps() -> list[DemoStep]:
    from __PKG__.demo import demo_steps

    return demo_steps()
'''

DEMO = '''\
"""This plugin's step of ``recplug demo`` (the ``recplug_demo_steps`` hook).

A smoke check of the component, built the way hosts build it (through the plugin manager). Replace it
with a real section (``run``), with retrieval systems for the demo's shared table (``systems``), or
return ``[]`` to add nothing to the demo. Both callables import what they need when called.
"""

from __future__ import annotations

from typing import Any


def demo_steps() -> list[Any]:
    from recplug import DemoStep

    return [DemoStep(name="__COMPONENT__", title="__NAME__: __SUMMARY__", run=run, order=900)]


def run(context: Any) -> str:
    """One line of markdown about the component (``context`` is a :class:`recplug.DemoContext`)."""
__DEMO_BODY__'''

DEMO_BODY = {
    "regularizer": '''\
    import torch

    penalty = context.pm.create("__FAMILY__", "__COMPONENT__", key="item_embeddings")
    parts = penalty({}, {"item_embeddings": torch.full((4, 3), 2.0)})
    values = ", ".join(f"`{name}` = {float(value):.1f}" for name, value in parts.items())
    return f"`__COMPONENT__` on 4 embeddings of squared norm 12: {values}, weight {penalty.schedule(0):g}."
''',
    "index": '''\
    import numpy as np

    index = context.pm.create("__FAMILY__", "__COMPONENT__", dimension=16)
    vectors = np.random.default_rng(0).standard_normal((200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.add(vectors, [f"d{i}" for i in range(200)])
    found = index.search(vectors[:20], k=1).ids[:, 0]
    hits = sum(found[i] == f"d{i}" for i in range(20))
    return f"`__COMPONENT__`: {hits}/20 unit vectors find themselves first among {len(index)} documents."
''',
    "encoder": '''\
    import numpy as np

    encoder = context.pm.create("__FAMILY__", "__COMPONENT__")
    docs = encoder.encode_documents(["the cat sat on the mat", "stock markets fell sharply today"])
    query = encoder.encode_queries(["a cat on a mat"])[0]
    scores = np.round(docs @ query, 3).tolist()
    return f"`__COMPONENT__` ({encoder.dimension} dimensions): scores of 'a cat on a mat' against two documents: {scores}."
''',
    "compressor": '''\
    import torch
    from recplug.protocols import TableSpec

    tables = context.pm.create("__FAMILY__", "__COMPONENT__", max_norm=1.0)
    module = tables.build([TableSpec("t_item", 100, 8, ("item_id",))])
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.mul_(50.0)
    stats = tables.after_optimizer_step(module, 0)
    return f"`__COMPONENT__`: {stats['clipped_rows']} of 100 rows scaled back to norm 1.0 after a step."
''',
}

REGULARIZER = '''\
"""The __COMPONENT__ regularizer: __SUMMARY__.

A starting point: replace the body of ``__call__`` with your loss term and keep the checks. torch is
imported when the term is computed, never when the plugin is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recplug.checks import check_str
from recplug.errors import InvalidInputError
from recplug.schedules import schedule_from_config


class __CLASS__:
    """``mean_b ||outputs[key][b]||^2``: one unweighted loss part, ``"squared_norm"``.

    Args:
        key: the model output to penalise, a floating-point ``B x D`` tensor (e.g. ``"item_embeddings"``).
        weight: the weight of the term (>= 0).
        warmup: ``"constant"``, ``"linear"`` or ``"quadratic"`` warm-up of the weight.
        warmup_steps: the length of the warm-up in steps.
    """

    name = "__COMPONENT__"

    def __init__(
        self, key: str = "item_embeddings", weight: float = 1e-4, warmup: str = "constant", warmup_steps: int = 0
    ) -> None:
        self.key = check_str(key, f"{self.name}: key")
        self.requires = frozenset({self.key})
        self.schedule = schedule_from_config(weight, warmup, warmup_steps)

    def __call__(self, batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        if self.key not in outputs:
            raise InvalidInputError(f"{self.name}: model outputs lack {self.key!r}; got {sorted(map(str, outputs))}")
        value = outputs[self.key]
        if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point or value.dim() < 1 or value.numel() == 0:
            raise InvalidInputError(
                f"{self.name}: output {self.key!r} must be a non-empty floating-point B x D tensor, got "
                f"{type(value).__name__} {getattr(value, 'dtype', '')} {tuple(getattr(value, 'shape', ()))}"
            )
        return {"squared_norm": value.pow(2).sum(dim=-1).mean()}
'''

INDEX = '''\
"""The __COMPONENT__ index: __SUMMARY__.

A starting point: replace what ``add`` stores and how ``search`` scores it with your index structure;
keep the input checks, the errors and the save/load scheme (:mod:`recplug.generations` writes a new
generation of files and then the manifest, so a save killed at any moment leaves the old or the new
index), which the conformance kit tests.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from recplug.checks import check_int
from recplug.errors import ConfigError, CorruptFileError, InvalidInputError
from recplug.fileio import atomic_writer
from recplug.generations import file_of, save_generation
from recplug.manifest import IndexManifest, check_loaded, library_versions
from recplug.protocols import IndexCapabilities, SearchResult
from recplug.validation import as_float32_matrix, check_ids, check_k

ROLE, DATA_FILE = "vectors", "vectors.npz"


class __CLASS__:
    """Exact top-k by inner product over float32 vectors, with string or integer ids.

    Args:
        dimension: ``D``, the length of every vector.
    """

    name = "__COMPONENT__"
    metric = "ip"
    capabilities = IndexCapabilities(exact=True, supports_removal=True, supports_save=True)

    def __init__(self, dimension: int) -> None:
        self.dimension = check_int(dimension, f"{self.name}: dimension", low=1)
        self._vectors = np.zeros((0, self.dimension), np.float32)
        self._ids: np.ndarray = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def memory_bytes(self) -> int:
        """Bytes kept for search: the stored ``N x D`` float32 vectors (reports show it beside quality)."""
        return int(self._vectors.nbytes)

    def add(self, vectors: Any, ids: Sequence[Any] | np.ndarray) -> None:
        """Add ``N x D`` vectors with ``N`` new, unique ids; a refused add changes nothing."""
        x = as_float32_matrix(vectors, name="vectors", dimension=self.dimension)
        new_ids = check_ids(ids, x.shape[0], existing=self._ids)
        if not len(new_ids):
            return
        merged_ids = np.concatenate([self._ids, new_ids]) if len(self._ids) else new_ids
        self._vectors, self._ids = np.concatenate([self._vectors, x]), merged_ids

    def remove(self, ids: Sequence[Any] | np.ndarray) -> int:
        """Remove the given ids (unknown ones are ignored); returns how many were removed."""
        try:
            targets = np.asarray(ids)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"ids: cannot be read as an array of ids ({exc})") from exc
        if targets.ndim != 1 or (targets.size and targets.dtype.kind not in "iuU"):
            raise InvalidInputError(f"ids: expected a 1-D sequence of integers or strings, got {targets.dtype} {targets.shape}")
        if not targets.size or not len(self) or (targets.dtype.kind == "U") != (self._ids.dtype.kind == "U"):
            return 0
        keep = ~np.isin(self._ids, targets)
        self._vectors, self._ids = self._vectors[keep], self._ids[keep]
        return int((~keep).sum())

    def search(self, queries: Any, k: int) -> SearchResult:
        """Top ``k`` ids and scores (best first) for each of ``Q x D`` queries; slots past the number of
        documents hold ``""`` (string ids) or ``-1`` (integer ids) with score ``-inf``."""
        q = as_float32_matrix(queries, name="queries", dimension=self.dimension)
        k = check_k(k, q.shape[0])
        scores = q @ self._vectors.T  # Q x N
        n, kk = scores.shape[1], min(k, scores.shape[1])
        if kk == 0:
            positions, best = np.zeros((q.shape[0], 0), np.int64), np.zeros((q.shape[0], 0), np.float32)
        else:
            candidates = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (q.shape[0], 1))
            candidate_scores = np.take_along_axis(scores, candidates, axis=1)
            order = np.argsort(-candidate_scores, axis=1, kind="stable")
            positions = np.take_along_axis(candidates, order, axis=1)
            best = np.take_along_axis(candidate_scores, order, axis=1).astype(np.float32)
        ids = self._ids[positions]
        if kk < k:
            empty: Any = "" if self._ids.dtype.kind == "U" else -1
            ids = np.concatenate([ids, np.full((q.shape[0], k - kk), empty, dtype=ids.dtype)], axis=1)
            best = np.concatenate([best, np.full((q.shape[0], k - kk), -np.inf, np.float32)], axis=1)
        return SearchResult(ids=ids, scores=best)

    def save(self, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> Path:
        """Write the vectors and ids (``.npz``, no pickle) and ``manifest.json`` into directory ``path``."""
        vectors, ids = self._vectors, self._ids

        def write(target: Path) -> None:
            with atomic_writer(target) as handle:
                np.savez(handle, vectors=vectors, ids=ids)

        manifest = IndexManifest(
            index=self.name,
            dimension=self.dimension,
            metric=self.metric,
            count=len(self),
            encoder=encoder_config,
            library_versions=library_versions("__NAME__", "numpy"),
        )
        save_generation(Path(path), {ROLE: (".npz", write)}, manifest)
        return Path(path)

    @classmethod
    def load(cls, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> __CLASS__:
        """Read an index written by :meth:`save`; checks the manifest, the files' checksums, the encoder
        config (``IncompatibleFileError``) and the data against the manifest (``CorruptFileError``)."""
        path = Path(path)
        manifest = IndexManifest.read(path, index=cls.name, encoder_config=encoder_config)
        data_file = file_of(manifest, path, ROLE, DATA_FILE)
        try:
            with np.load(data_file, allow_pickle=False) as data:
                vectors, ids = data["vectors"], data["ids"]
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(f"{data_file}: cannot be read ({exc})") from exc
        check_loaded(
            data_file,
            {"metric": cls.metric, "shape": (manifest.count, manifest.dimension), "ids": (manifest.count,), "dtype": "float32"},
            {"metric": manifest.metric, "shape": vectors.shape, "ids": ids.shape, "dtype": str(vectors.dtype)},
        )
        if ids.dtype.kind not in "iuU" or len(np.unique(ids)) != len(ids):
            raise CorruptFileError(f"{data_file}: ids must be unique integers or strings, got {ids.dtype}")
        try:
            index = cls(manifest.dimension)
        except ConfigError as exc:
            raise CorruptFileError(f"{path}: the manifest describes no valid {cls.name} index ({exc})") from exc
        index._vectors, index._ids = vectors, ids
        return index
'''

ENCODER = '''\
"""The __COMPONENT__ encoder: __SUMMARY__.

Each word (``\\\\w+``, lower-cased) adds +1 or -1 to one of ``dimension`` slots chosen by a stable hash
(BLAKE2b, not Python's salted ``hash``); rows are scaled to unit length, so inner products are cosines of
the word counts. A starting point: replace ``_encode`` with your model and keep the checks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from recplug.checks import check_choice, check_int
from recplug.validation import check_texts

WORD = re.compile(r"\\w+")


class __CLASS__:
    """Dense ``float32`` vectors of hashed words.

    Args:
        dimension: the number of hash slots ``D``.
        lowercase: lower-case the text before splitting it into words.
    """

    name = "__COMPONENT__"
    output = "dense"

    def __init__(self, dimension: int = 256, lowercase: bool = True) -> None:
        self.dimension = check_int(dimension, f"{self.name}: dimension", low=1, high=1 << 24)
        self.lowercase = check_choice(lowercase, f"{self.name}: lowercase", (True, False))

    def config(self) -> dict[str, Any]:
        """What an index built from these vectors depends on (stored in its manifest)."""
        return {"encoder": self.name, "version": 1, "dimension": self.dimension, "lowercase": self.lowercase}

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``Q x D`` float32 for ``Q`` query strings."""
        return self._encode(check_texts(texts, "queries"))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """``N x D`` float32 for ``N`` document strings."""
        return self._encode(check_texts(texts, "documents"))

    def _slot(self, word: str) -> tuple[int, float]:
        value = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        return value % self.dimension, 1.0 if value >> 63 else -1.0

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower() if self.lowercase else text):
                slot, sign = self._slot(word)
                out[row, slot] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)  # a text without words stays the zero vector
        return out
'''

TABLES = '''\
"""The __COMPONENT__ embedding tables: __SUMMARY__.

Plain float32 tables in a torchrec ``EmbeddingBagCollection``; after every optimizer step each row longer
than ``max_norm`` is scaled back to that length (max-norm regularization). The export is the weights
themselves. torch and torchrec are imported when tables are built, never when the plugin is loaded.
A starting point: change ``build`` / ``after_optimizer_step`` / ``export`` and keep the checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recplug.checks import check_real
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError
from recplug.fileio import atomic_save_with
from recplug.memory import check_fits
from recplug.protocols import CompressorCapabilities, ExportInfo, TableSpec


def _torchrec() -> Any:
    try:
        import torchrec
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "__COMPONENT__ needs torchrec 1.8.0: `pip install fbgemm-gpu-cpu==1.8.0 tensordict torchmetrics==1.0.3 "
            "pyre-extensions` then `pip install --no-deps torchrec==1.8.0` (see tools/env/setup.sh)"
        ) from exc
    return torchrec


def _check_tables(tables: Any, owner: str) -> list[TableSpec]:
    if isinstance(tables, (str, bytes)) or not isinstance(tables, Sequence) or not tables:
        raise ConfigError(f"{owner}: tables must be a non-empty list of TableSpec, got {tables!r}")
    if not all(isinstance(t, TableSpec) for t in tables):
        raise ConfigError(f"{owner}: tables must be TableSpec records")
    for what, names in (("table", [t.name for t in tables]), ("feature", [f for t in tables for f in t.feature_names])):
        if len(set(names)) != len(names):
            raise ConfigError(f"{owner}: {what} names repeat: {sorted(names)}")
    return list(tables)


def _weights(module: Any) -> dict[str, Any]:
    """``{table name: weight (num_embeddings x D)}`` of an EmbeddingBagCollection."""
    return {name: bag.weight for name, bag in module.embedding_bags.items()}


class __CLASS__:
    """Max-norm float32 tables.

    Args:
        max_norm: the largest L2 norm a row keeps after an optimizer step (> 0).
    """

    name = "__COMPONENT__"
    capabilities = CompressorCapabilities(after_step=True, export=True)

    def __init__(self, max_norm: float = 1.0) -> None:
        self.max_norm = check_real(max_norm, f"{self.name}: max_norm", low=0, low_open=True)

    def build(self, tables: Sequence[TableSpec]) -> Any:
        """An ``EmbeddingBagCollection`` on the CPU: KeyedJaggedTensor -> KeyedTensor (B x sum D)."""
        tables = _check_tables(tables, self.name)
        check_fits(4 * sum(t.num_embeddings * t.embedding_dim for t in tables), f"{self.name} tables")
        torchrec = _torchrec()
        pooling = {"sum": torchrec.PoolingType.SUM, "mean": torchrec.PoolingType.MEAN}
        configs = [
            torchrec.EmbeddingBagConfig(
                name=t.name,
                num_embeddings=t.num_embeddings,
                embedding_dim=t.embedding_dim,
                feature_names=list(t.feature_names),
                pooling=pooling[t.pooling],
            )
            for t in tables
        ]
        return torchrec.EmbeddingBagCollection(tables=configs, device="cpu")

    def attach_optimizer(self, optimizer: Any) -> None:
        """Nothing to do: this compressor keeps no optimizer state of its own."""

    def after_optimizer_step(self, module: Any, step: int) -> dict[str, float]:
        """Scale every row longer than ``max_norm`` back to it; returns how many rows were scaled."""
        import torch

        clipped = 0
        with torch.no_grad():
            for weight in _weights(module).values():
                norms = weight.norm(dim=1, keepdim=True)
                over = norms > self.max_norm
                clipped += int(over.sum())
                weight.mul_(torch.where(over, self.max_norm / norms.clamp_min(1e-30), torch.ones_like(norms)))
        return {"clipped_rows": clipped}

    def export(self, module: Any, path: Path) -> ExportInfo:
        """Save the tables' weights (``torch.save`` of plain tensors, atomically)."""
        import torch

        weights = {name: w.detach().cpu().contiguous() for name, w in _weights(module).items()}
        atomic_save_with(path, lambda tmp: torch.save(weights, tmp))
        nbytes = sum(w.numel() * w.element_size() for w in weights.values())
        return ExportInfo(Path(path), nbytes, {"max_norm": self.max_norm})

    def load_export(self, path: Path, tables: Sequence[TableSpec]) -> Any:
        """Rebuild the tables from :meth:`export` output (``weights_only=True``: no pickled code)."""
        import torch

        try:
            weights = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CorruptFileError(f"{path}: cannot be read as exported tables ({exc})") from exc
        if not isinstance(weights, dict) or not all(isinstance(w, torch.Tensor) for w in weights.values()):
            raise CorruptFileError(f"{path}: not a dictionary of table weights")
        module = self.build(tables)
        targets = _weights(module)
        if set(weights) != set(targets):
            raise IncompatibleFileError(f"{path}: holds tables {sorted(weights)}, the model has {sorted(targets)}")
        with torch.no_grad():
            for name, target in targets.items():
                if tuple(weights[name].shape) != tuple(target.shape):
                    raise IncompatibleFileError(
                        f"{path}: table {name!r} has shape {tuple(weights[name].shape)}, expected {tuple(target.shape)}"
                    )
                target.copy_(weights[name])
        return module
'''

COMPONENT_SOURCE = {"regularizer": REGULARIZER, "index": INDEX, "encoder": ENCODER, "compressor": TABLES}

TEST_HEADER = '''\
"""__NAME__'s component passes recplug's conformance kit, built through the plugin manager as hosts build it."""

from __future__ import annotations

__TEST_IMPORTS__import pytest
from recplug import ConfigError, DemoContext, load_plugin_manager
from recplug.testing import __KIT__

__TEST_SKIPS__FAMILY, NAME = "__FAMILY__", "__COMPONENT__"


@pytest.fixture(scope="module")
def pm():
    return load_plugin_manager()


def test_entry_point_lists_the_component(pm) -> None:
    assert pm.distribution_of_component(FAMILY, NAME) == "__NAME__"
    assert NAME in pm.demo_steps()


def test_misspelled_option_is_a_config_error(pm) -> None:
    with pytest.raises(ConfigError, match="Accepted"):
        pm.create(FAMILY, NAME, __MISSPELLED__=1)


def test_demo_step_runs(pm, tmp_path) -> None:
    text = pm.demo_steps()[NAME].run(DemoContext(output_dir=tmp_path, config=None, pm=pm))
    assert isinstance(text, str) and NAME in text
'''

TEST_BODY = {
    "regularizer": (
        "",
        "torch = pytest.importorskip(\"torch\")\n\n",
        "wieght",
        '''

def test_value_is_the_mean_squared_norm(pm) -> None:
    penalty = pm.create(FAMILY, NAME, key="q")
    parts = penalty({}, {"q": torch.tensor([[3.0, 4.0], [0.0, 1.0]])})
    assert float(parts["squared_norm"]) == pytest.approx((25.0 + 1.0) / 2)


class TestConformance(__KIT__):
    @pytest.fixture
    def regularizer(self, pm):
        return pm.create(FAMILY, NAME, key="item_embeddings", weight=0.1)

    @pytest.fixture
    def regularizer_inputs(self):
        return {}, {"item_embeddings": torch.randn(6, 4, requires_grad=True)}
''',
    ),
    "index": (
        "import numpy as np\n",
        "",
        "dimenson",
        '''

def test_results_match_numpy(pm) -> None:
    rng = np.random.default_rng(0)
    docs, queries = rng.standard_normal((40, 6)).astype(np.float32), rng.standard_normal((3, 6)).astype(np.float32)
    index = pm.create(FAMILY, NAME, dimension=6)
    index.add(docs, np.arange(100, 140))
    result = index.search(queries, k=5)
    np.testing.assert_array_equal(result.ids, np.argsort(-(queries @ docs.T), axis=1)[:, :5] + 100)


def test_remove(pm) -> None:
    index = pm.create(FAMILY, NAME, dimension=4)
    index.add(np.eye(4, dtype=np.float32), ["a", "b", "c", "d"])
    assert index.remove(["b", "zzz"]) == 1 and len(index) == 3
    assert "b" not in index.search(np.eye(4, dtype=np.float32), k=3).ids


class TestConformance(__KIT__):
    @pytest.fixture
    def make_index(self, pm):
        return lambda: pm.create(FAMILY, NAME, dimension=8)
''',
    ),
    "encoder": (
        "import numpy as np\n",
        "",
        "dimenson",
        '''

def test_shared_words_score_higher(pm) -> None:
    encoder = pm.create(FAMILY, NAME, dimension=512)
    docs = encoder.encode_documents(["the cat sat on the mat", "stock markets fell sharply today"])
    scores = docs @ encoder.encode_queries(["a cat on a mat"])[0]
    assert scores[0] > scores[1]
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-6)


class TestConformance(__KIT__):
    @pytest.fixture
    def encoder(self, pm):
        return pm.create(FAMILY, NAME, dimension=64)
''',
    ),
    "compressor": (
        "",
        "torch = pytest.importorskip(\"torch\")\n"
        "pytest.importorskip(\"torchrec\", reason=\"the tables need torchrec (see tools/env/setup.sh)\")\n\n",
        "max_nrom",
        '''

def test_rows_are_kept_within_max_norm(pm) -> None:
    from recplug.protocols import TableSpec

    tables = pm.create(FAMILY, NAME, max_norm=0.5)
    module = tables.build([TableSpec("t", 30, 4, ("f",))])
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.fill_(1.0)  # every row has norm 2
    assert tables.after_optimizer_step(module, 0) == {"clipped_rows": 30}
    for parameter in module.parameters():
        torch.testing.assert_close(parameter.norm(dim=1), torch.full((30,), 0.5))


class TestConformance(__KIT__):
    @pytest.fixture
    def compressor(self, pm):
        return pm.create(FAMILY, NAME, max_norm=0.5)
''',
    ),
}


# ------------------------------------------------------------------------------------------------------------


class ScaffoldError(Exception):
    """A refused request, reported as one line."""


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


def check_name(name: str, what: str = "plugin name") -> str:
    """``name`` when it is a valid plugin (or, with ``what``, component) name; else a ScaffoldError."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > 64:
        raise ScaffoldError(
            f"invalid {what} {name!r}: use lower-case letters, digits and single hyphens, starting with a letter "
            "(e.g. recplug-my-index)"
        )
    if what != "plugin name":
        return name
    package = name.replace("-", "_")
    if keyword.iskeyword(package) or package in sys.stdlib_module_names or package in ("recplug", "test", "tests"):
        raise ScaffoldError(f"invalid {what} {name!r}: its package {package!r} would shadow another module")
    return name


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with every placeholder (``__NAME__`` ...) replaced by its value."""
    placeholders = re.compile("|".join(re.escape(key) for key in sorted(values, key=len, reverse=True)))
    return placeholders.sub(lambda match: values[match.group()], template)


def plugin_files(name: str, kind_name: str, component: str, description: str) -> dict[str, str]:
    """``relative path -> text`` of the new plugin."""
    kind = KINDS[kind_name]
    package = name.replace("-", "_")
    cls = camel(component) if camel(component).endswith(kind.suffix) else camel(component) + kind.suffix
    test_imports, test_skips, misspelled, test_body = TEST_BODY[kind_name]
    values = {
        "__NAME__": name,
        "__PKG__": package,
        "__COMPONENT__": component,
        "__CLASS__": cls,
        "__FAMILY__": kind.family,
        "__SPEC__": kind.spec,
        "__HOOK__": kind.hook,
        "__MODULE__": kind.module,
        "__KIT__": kind.kit,
        "__RECORD_FIELDS__": f"\n            {kind.record_fields}" if kind.record_fields else "",
        "__RECORD_IMPORTS__": ", ".join([*sorted({"DemoStep", kind.spec, *kind.record_imports}), "hookimpl", "lazy_factory"]),
        "__SUMMARY__": kind.summary,
        "__DESCRIPTION__": description,
        "__DESCRIPTION_TOML__": json.dumps(description, ensure_ascii=False),
        "__DEPENDENCIES__": json.dumps(list(kind.dependencies)),
        "__EXTRA__": kind.extra,
        "__LICENSE_FILES__": 'license-files = ["LICENSE"]\n' if (ROOT / "LICENSE").is_file() else "",
        "__TEST_IMPORTS__": test_imports,
        "__TEST_SKIPS__": test_skips,
        "__MISSPELLED__": misspelled,
        "__USE_ARGS__": ", dimension=384" if kind_name == "index" else "",
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{package}/__init__.py": INIT,
        f"src/{package}/plugin.py": PLUGIN,
        f"src/{package}/demo.py": DEMO.replace("__DEMO_BODY__", DEMO_BODY[kind_name]),
        f"src/{package}/{kind.module}.py": COMPONENT_SOURCE[kind_name],
        "tests/test_conformance.py": TEST_HEADER + test_body,
    }
    rendered = {path: render(text, values) for path, text in files.items()}
    if (ROOT / "LICENSE").is_file():
        rendered["LICENSE"] = (ROOT / "LICENSE").read_text(encoding="utf-8")
    return rendered


def scaffold(name: str, kind: str, dest: Path, component: str | None = None, description: str | None = None) -> Path:
    """Write the plugin ``name`` of ``kind`` into ``dest / name`` (all files or none); returns that folder."""
    check_name(name)
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    component = check_name(component or name.removeprefix("recplug-"), "component name")
    description = description or f"{KINDS[kind].summary[0].upper()}{KINDS[kind].summary[1:]}, as a recplug plugin."
    if "\n" in description or '"' in description or "\\" in description or not description.isprintable():
        raise ScaffoldError("the description must be one printable line without quotes or backslashes")
    package = name.replace("-", "_")
    if importlib.util.find_spec(package) is not None:
        raise ScaffoldError(f"a module named {package!r} is already importable here; choose another name")
    target = Path(dest) / name
    if target.exists() or target.is_symlink():
        raise ScaffoldError(f"{target} already exists; choose another name or --dest")
    files = plugin_files(name, kind, component, description)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o777 & ~_umask())
        os.rename(staging, target)  # fails if the folder appeared meanwhile: nothing is overwritten
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="new_plugin.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="distribution name, e.g. recplug-my-index (the import package is recplug_my_index)")
    parser.add_argument("--kind", required=True, choices=sorted(KINDS), help="the component the plugin starts with")
    parser.add_argument("--dest", type=Path, default=ROOT / "plugins", help="parent folder (default: plugins/)")
    parser.add_argument("--component", help="component name (default: the plugin name without 'recplug-')")
    parser.add_argument("--description", help="one line for pyproject.toml and the README")
    args = parser.parse_args(argv)
    try:
        target = scaffold(args.name, args.kind, args.dest, args.component, args.description)
    except (ScaffoldError, OSError) as exc:
        print(f"new_plugin.py: error: {exc}", file=sys.stderr)
        return 2
    shown = os.path.relpath(target) if target.resolve().is_relative_to(Path.cwd()) else str(target)
    print(f"wrote {shown}/ ({KINDS[args.kind].family} {args.component or args.name.removeprefix('recplug-')!r}). Next:")
    print(f"  .venv/bin/pip install -e {shown}   # make test / tools/env/setup.sh install every plugins/* too")
    print("  .venv/bin/recplug plugins")
    print(f"  .venv/bin/python -m pytest {shown}/tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
