"""An inverted index for vocabulary-sized sparse vectors, with IDF folded into the postings.

Documents are stored column-wise (CSC, one posting list per term: document positions and weights). With
``idf`` given, every posting holds ``idf(t) * w_doc(t)`` from build time on, so a query is just a set of
terms and its score is a sum over postings::

    score(q, d) = sum_{t in q} idf(t) * w_d(t)

Search is exact: a block of queries is multiplied with the term-major postings (one sparse product, which
sums each query's posting lists), and the top ``k`` of each row are selected with ``argpartition``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from recplug.builtins.exact_index import positions_to_ids, top_k
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError, InvalidInputError
from recplug.fileio import atomic_writer
from recplug.generations import file_of, save_generation
from recplug.manifest import IndexManifest, library_versions
from recplug.protocols import IndexCapabilities, SearchResult
from recplug.validation import as_float32_matrix, check_ids, check_k

DATA_FILE = "postings.npz"
TOKENIZER_DIR = "tokenizer"  # the tokenizer files saved with the index (queries need nothing else)
SCORE_BLOCK = 1 << 24  # dense scores held at once during search (64 MiB of float32)


def as_sparse_rows(x: Any, *, name: str, dimension: int, copy: bool = True) -> Any:
    """``x`` (scipy sparse or dense, ``R x V``) as a float32 CSR matrix with sorted, summed indices
    (a copy unless ``copy`` is false and ``x`` already is such a matrix).

    Raises:
        InvalidInputError: not 2-D, wrong ``V``, NaN or infinity.
    """
    import scipy.sparse as sp

    if sp.issparse(x):
        m = sp.csr_matrix(x, dtype=np.float32, copy=copy)
        if m.shape[1] != dimension:
            raise InvalidInputError(f"{name}: wrong dimension {m.shape[1]}, expected {dimension}")
        if not np.isfinite(m.data).all():
            row = int(np.searchsorted(m.indptr, int(np.argmax(~np.isfinite(m.data))), side="right") - 1)
            raise InvalidInputError(f"{name}: contains NaN or infinity (first at row {row})")
    else:
        m = sp.csr_matrix(as_float32_matrix(x, name=name, dimension=dimension))
    if not (m.has_canonical_format and (m.nnz == 0 or m.data.all())):
        m = m.copy() if not copy else m
        m.sum_duplicates()
        m.eliminate_zeros()
        m.sort_indices()
    return m


class InvertedIndex:
    """Exact top-k over sparse ``N x V`` document vectors.

    Args:
        dimension: ``V``, the vocabulary size.
        idf: optional ``V`` term weights folded into the postings; queries are then term sets (binary), and
            a query value other than 1 or the stored ``idf`` of its term is an error.
            Without ``idf`` the score is the plain inner product of query and document values.
        prune_below: document weights with ``|w| < prune_below`` are dropped when added (before folding).
        vocab_sha256: checksum of the tokenizer vocabulary the vectors come from; stored and checked on load.
        tokenizer_dir: folder of that tokenizer (its ``vocab.txt`` must have ``vocab_sha256``); :meth:`save`
            copies its files into the index, so a loaded index answers text queries through
            :meth:`query_encoder` with no model and no other files.
    """

    name = "sparse-inverted"
    capabilities = IndexCapabilities(exact=True, supports_removal=True, supports_save=True, input="sparse")

    def __init__(
        self,
        dimension: int,
        idf: Any = None,
        prune_below: float = 0.0,
        vocab_sha256: str | None = None,
        tokenizer_dir: str | Path | None = None,
    ) -> None:
        import scipy.sparse as sp

        if int(dimension) <= 0:
            raise ConfigError(f"dimension must be positive, got {dimension}")
        if not prune_below >= 0:
            raise ConfigError(f"prune_below must be >= 0, got {prune_below}")
        self.dimension = int(dimension)
        self.prune_below = float(prune_below)
        self.vocab_sha256 = vocab_sha256
        self.tokenizer_dir = None if tokenizer_dir is None else Path(tokenizer_dir)
        if self.tokenizer_dir is not None:
            from recplug_flops_idf.vocab import vocab_checksum

            found = vocab_checksum(self.tokenizer_dir)
            if vocab_sha256 is None:
                self.vocab_sha256 = found
            elif found != vocab_sha256:
                raise ConfigError(f"{self.tokenizer_dir}: its vocabulary is not the one of vocab_sha256 {vocab_sha256[:12]}...")
        self.idf: np.ndarray | None = None
        if idf is not None:
            idf = np.asarray(idf, dtype=np.float32)
            if idf.shape != (self.dimension,):
                raise ConfigError(f"idf has shape {idf.shape}, expected ({self.dimension},)")
            if not np.isfinite(idf).all() or (idf < 0).any():
                raise ConfigError("idf must be finite and non-negative")
            self.idf = idf
        self._rows = sp.csr_matrix((0, self.dimension), dtype=np.float32)  # raw weights, N x V
        self._postings: Any = None  # folded CSC, built lazily
        self._ids: np.ndarray = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self._rows.shape[0])

    @property
    def nnz(self) -> int:
        """Stored postings (non-zero document weights after pruning)."""
        return int(self._rows.nnz)

    def memory_bytes(self) -> int:
        """Bytes of the raw document rows (CSR) plus the folded term-major postings (CSC; built by the first
        search after a change), plus the ``idf`` vector."""
        parts = [self._rows] if self._postings is None else [self._rows, self._postings]
        stored = sum(int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) for m in parts)
        return stored + (0 if self.idf is None else int(self.idf.nbytes))

    # ------------------------------------------------------------------ building
    def add(self, vectors: Any, ids: Sequence[Any] | np.ndarray) -> None:
        """Add ``N x V`` sparse (or dense) document vectors with ``N`` unique ids."""
        import scipy.sparse as sp

        rows = as_sparse_rows(vectors, name="vectors", dimension=self.dimension)
        if self.prune_below > 0:
            rows.data[np.abs(rows.data) < self.prune_below] = 0
            rows.eliminate_zeros()
        new_ids = check_ids(ids, rows.shape[0], existing=self._ids)
        merged = np.concatenate([self._ids, new_ids]) if len(self._ids) else new_ids
        self._rows = sp.vstack([self._rows, rows], format="csr") if len(self) else rows
        self._ids = merged
        self._postings = None

    def remove(self, ids: Sequence[Any] | np.ndarray) -> int:
        """Remove the given ids (unknown ones are ignored); returns how many were removed."""
        keep = ~np.isin(self._ids, np.asarray(ids))
        removed = int((~keep).sum())
        if removed:
            self._rows, self._ids = self._rows[np.flatnonzero(keep)], self._ids[keep]
            self._postings = None
        return removed

    def _folded(self) -> Any:
        if self._postings is None:
            rows = self._rows if self.idf is None else self._rows.multiply(self.idf[None, :]).tocsr()
            self._postings = rows.astype(np.float32).tocsc()
            self._postings.sort_indices()
        return self._postings

    # ------------------------------------------------------------------ search
    def _query_terms(self, queries: Any) -> Any:
        q = as_sparse_rows(queries, name="queries", dimension=self.dimension, copy=False)
        empty = np.flatnonzero(np.diff(q.indptr) == 0)
        if empty.size:
            raise InvalidInputError(f"queries: row {int(empty[0])} has no terms (empty query)")
        if self.idf is not None:
            ones = np.isclose(q.data, 1.0)
            stored = np.isclose(q.data, self.idf[q.indices], rtol=1e-4)
            if not (ones | stored).all():
                raise InvalidInputError(
                    "queries: this index has IDF folded into its postings, so query values must be 1 "
                    "(binary) or the stored IDF of their term"
                )
        return q

    def scores(self, queries: Any) -> np.ndarray:
        """``Q x N`` float32 scores of ``Q x V`` sparse queries (already checked by :meth:`_query_terms`).

        One sparse product with the term-major postings (``V x N``, a view of the CSC store): each query
        row sums the posting lists of its terms. With folded IDF the query values are taken as 1.
        """
        import scipy.sparse as sp

        by_term = self._folded().T  # V x N CSR, no copy
        values = np.ones(len(queries.data), np.float32) if self.idf is not None else queries.data.astype(np.float32)
        queries = sp.csr_matrix((values, queries.indices, queries.indptr), shape=queries.shape)
        return (queries @ by_term).toarray()

    def search(self, queries: Any, k: int) -> SearchResult:
        """Top ``k`` ids and scores for each of ``Q x V`` sparse queries (exact; ties to the earlier document).

        Queries are scored in blocks of at most ``SCORE_BLOCK`` entries (``rows x N``) of dense scores.
        """
        q = self._query_terms(queries)
        n_queries = q.shape[0]
        k = check_k(k, n_queries)
        if len(self) == 0:
            empty = positions_to_ids(np.full((n_queries, k), -1, np.int64), self._ids)
            return SearchResult(ids=empty, scores=np.full((n_queries, k), -np.inf, np.float32))
        positions = np.empty((n_queries, k), np.int64)
        scores = np.empty((n_queries, k), np.float32)
        rows = max(1, SCORE_BLOCK // len(self))
        for lo in range(0, n_queries, rows):
            hi = min(lo + rows, n_queries)
            block = q if (lo, hi) == (0, n_queries) else q[lo:hi]
            positions[lo:hi], scores[lo:hi] = top_k(self.scores(block), k)
        return SearchResult(ids=positions_to_ids(positions, self._ids), scores=scores)

    def query_encoder(self) -> Any:
        """The inference-free query encoder of this index: its saved tokenizer, binary term sets (the IDF
        is in the postings). Raises :class:`ConfigError` without a tokenizer or folded IDF."""
        from recplug_flops_idf.query_encoder import InferenceFreeQueryEncoder
        from recplug_flops_idf.vocab import load_vocabulary

        if self.tokenizer_dir is None:
            raise ConfigError("this index has no tokenizer: build it with tokenizer_dir= (the encoder's build_index does)")
        if self.idf is None:
            raise ConfigError("this index has no IDF folded in: encode queries with the encoder that built it")
        return InferenceFreeQueryEncoder(load_vocabulary(str(self.tokenizer_dir)), self.idf, weighting="binary")

    # ------------------------------------------------------------------ persistence
    def check_vocabulary(self, vocab_sha256: str | None) -> None:
        """Raise :class:`IncompatibleFileError` when ``vocab_sha256`` differs from the index's vocabulary."""
        if vocab_sha256 is not None and self.vocab_sha256 is not None and vocab_sha256 != self.vocab_sha256:
            raise IncompatibleFileError(
                f"vocabulary mismatch: the index was built with vocabulary sha256 {self.vocab_sha256[:12]}..., "
                f"the tokenizer has {vocab_sha256[:12]}...; term ids would not match"
            )

    def save(self, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> Path:
        """Write the postings (npz: raw CSR weights, ids, IDF), the tokenizer's files (a ``tokenizer-*``
        folder, when the index has a ``tokenizer_dir``) and ``manifest.json`` (last) into directory ``path``;
        a save killed at any moment leaves the previous save, or this one, loadable."""
        rows = self._rows

        def write_postings(target: Path) -> None:
            with atomic_writer(target) as handle:
                np.savez(
                    handle,
                    indptr=rows.indptr.astype(np.int64),
                    indices=rows.indices.astype(np.int32),
                    data=rows.data.astype(np.float32),
                    ids=self._ids,
                    idf=self.idf if self.idf is not None else np.zeros(0, np.float32),
                )

        writers: dict[str, Any] = {"postings": (".npz", write_postings)}
        if self.tokenizer_dir is not None:
            from recplug_flops_idf.vocab import copy_tokenizer

            source = self.tokenizer_dir
            writers[TOKENIZER_DIR] = ("/", lambda target: copy_tokenizer(source, target))
        manifest = IndexManifest(
            index=self.name,
            dimension=self.dimension,
            metric="ip",
            count=len(self),
            encoder=encoder_config,
            params={
                "idf_folded": self.idf is not None,
                "prune_below": self.prune_below,
                "vocab_sha256": self.vocab_sha256,
                "nnz": self.nnz,
            },
            library_versions=library_versions("numpy", "scipy"),
        )
        layout = save_generation(Path(path), writers, manifest)
        if TOKENIZER_DIR in layout:  # the old generation this index may have been loaded from is gone
            self.tokenizer_dir = Path(path) / layout[TOKENIZER_DIR]
        return Path(path)

    @classmethod
    def load(cls, path: Path, *, encoder_config: Mapping[str, Any] | None = None) -> InvertedIndex:
        """Read an index written by :meth:`save` (no pickle; checksums, vocabulary and encoder config verified)."""
        import scipy.sparse as sp

        path = Path(path)
        raw = IndexManifest.read(path, index=cls.name)
        params = raw.params or {}
        if encoder_config is not None and "vocab_sha256" in encoder_config:
            probe = cls(raw.dimension, vocab_sha256=params.get("vocab_sha256"))
            probe.check_vocabulary(encoder_config["vocab_sha256"])
        manifest = IndexManifest.read(path, index=cls.name, encoder_config=encoder_config)
        if manifest.metric != "ip":
            raise CorruptFileError(f"{path}: manifest metric {manifest.metric!r}; a sparse-inverted index scores by 'ip'")
        data_file = file_of(manifest, path, "postings", DATA_FILE)
        tokenizer_dir = file_of(manifest, path, TOKENIZER_DIR, TOKENIZER_DIR)
        try:
            with np.load(data_file, allow_pickle=False) as data:
                arrays = {key: data[key] for key in ("indptr", "indices", "data", "ids", "idf")}
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(f"{data_file}: cannot be read ({exc})") from exc
        idf = arrays["idf"] if params.get("idf_folded") else None
        tokenizer = f"{tokenizer_dir.name}/vocab.txt" in manifest.files  # checksummed by the manifest
        index = cls(
            manifest.dimension,
            idf=idf,
            prune_below=float(params.get("prune_below", 0.0)),
            vocab_sha256=params.get("vocab_sha256"),
            tokenizer_dir=tokenizer_dir if tokenizer else None,
        )
        try:
            rows = sp.csr_matrix(
                (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(manifest.count, manifest.dimension)
            )
            rows.check_format(full_check=True)
        except ValueError as exc:
            raise CorruptFileError(f"{data_file}: postings do not match the manifest ({exc})") from exc
        if arrays["ids"].shape != (manifest.count,):
            raise CorruptFileError(f"{data_file}: ids do not match the manifest count")
        index._rows, index._ids = rows, arrays["ids"]
        return index
