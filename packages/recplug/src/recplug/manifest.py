"""Index manifests: what a saved index was built with, checked again when it is loaded.

A saved index is a directory holding its data files and ``manifest.json``::

    {"format": "recplug-index", "format_version": 2, "index": "faiss", "dimension": 384,
     "metric": "ip", "count": 5183, "encoder": {...}, "files": {"shard0-1a2b3c4d.faiss": "<sha256>"},
     "library_versions": {"recplug": "0.1.0", "faiss": "1.8.0"}, "params": {...},
     "manifest_sha256": "<sha256 of every other field>"}

Loading checks the manifest's own checksum (an edited ``metric`` or ``count`` is caught, not obeyed), the
stored encoder configuration and dimension against the caller's, and every file's checksum; each index
then checks what it read (type, metric, dimension, counts) against the manifest with
:func:`check_loaded`. A mismatched or damaged index fails loudly instead of returning wrong neighbours.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from recplug.errors import CorruptFileError, IncompatibleFileError
from recplug.fileio import atomic_write_json, read_json, sha256_file

MANIFEST_NAME = "manifest.json"
FORMAT = "recplug-index"
FORMAT_VERSION = 2
#: Versions this recplug reads; version 1 manifests have no checksum of their own (read with a warning).
READABLE_VERSIONS = (1, 2)

log = logging.getLogger(__name__)


def library_versions(*distributions: str) -> dict[str, str]:
    """Installed versions of ``distributions`` (``"absent"`` where not installed)."""
    versions = {}
    for dist in ("recplug", *distributions):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "absent"
    return versions


def _canonical(config: Mapping[str, Any] | None) -> Any:
    return None if config is None else json.loads(json.dumps(config, sort_keys=True, default=str))


def manifest_digest(fields: Mapping[str, Any]) -> str:
    """SHA-256 of every field but ``manifest_sha256``, as canonical JSON."""
    body = {key: value for key, value in fields.items() if key != "manifest_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def top_entry(name: str) -> str | None:
    """The first path component of a file name listed in a manifest, or ``None`` when the name is not a safe
    relative path inside the index directory (empty, absolute, or climbing out with ``..``)."""
    path = Path(name)
    if not path.parts or path.is_absolute() or ".." in path.parts:
        return None
    return path.parts[0]


def check_loaded(path: Path, expected: Mapping[str, Any], found: Mapping[str, Any]) -> None:
    """Compare what an index read from ``path`` holds (``found``: e.g. type, metric, dimension, count) with
    what its manifest says (``expected``).

    Raises:
        CorruptFileError: the first property that differs, with both values.
    """
    for key, want in expected.items():
        if key in found and found[key] != want:
            raise CorruptFileError(
                f"{path}: the manifest says {key} {want!r}, but the data file holds {found[key]!r} "
                "(file replaced or damaged)"
            )


@dataclass
class IndexManifest:
    """The manifest of a saved index; see the module docstring for the fields."""

    index: str
    dimension: int
    metric: str
    count: int
    files: dict[str, str] = field(default_factory=dict)
    encoder: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    manifest_sha256: str = ""

    def write(self, directory: Path) -> None:
        """Checksum the listed files in ``directory``, then the manifest's own fields, and write the
        manifest atomically (last, so a directory with a manifest is complete)."""
        self.files = {name: sha256_file(directory / name) for name in self.files}
        self.encoder = _canonical(self.encoder)
        self.params = _canonical(self.params) or {}
        self.format_version = FORMAT_VERSION
        self.manifest_sha256 = manifest_digest(asdict(self))
        atomic_write_json(directory / MANIFEST_NAME, asdict(self))

    @classmethod
    def read(
        cls,
        directory: Path,
        *,
        index: str,
        encoder_config: Mapping[str, Any] | None = None,
        dimension: int | None = None,
    ) -> IndexManifest:
        """Read and verify the manifest in ``directory``.

        Raises:
            CorruptFileError: missing or unparsable manifest, missing data file, checksum mismatch.
            IncompatibleFileError: another index type or format version, or an ``encoder_config`` or
                ``dimension`` different from the saved ones.
        """
        directory = Path(directory)
        where = directory / MANIFEST_NAME
        raw = read_json(where)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise CorruptFileError(f"{where}: not a recplug index manifest")
        try:
            manifest = cls(**raw)
        except TypeError as exc:
            raise CorruptFileError(f"{where}: unexpected fields ({exc})") from exc
        if manifest.format_version not in READABLE_VERSIONS:
            raise IncompatibleFileError(
                f"{directory}: index format version {manifest.format_version!r}, this recplug reads "
                f"versions {', '.join(map(str, READABLE_VERSIONS))}"
            )
        if manifest.format_version >= 2 and manifest.manifest_sha256 != manifest_digest(raw):
            raise CorruptFileError(f"{where}: the manifest's own checksum does not match its fields (edited or damaged)")
        if manifest.format_version < 2:
            log.warning("%s: format version 1 has no checksum of its own; save the index again to add one", where)
        manifest._check_fields(where)
        if manifest.index != index:
            raise IncompatibleFileError(f"{directory}: holds a {manifest.index!r} index, not {index!r}")
        if dimension is not None and manifest.dimension != dimension:
            raise IncompatibleFileError(f"{directory}: index dimension is {manifest.dimension}, expected {dimension}")
        if encoder_config is not None and manifest.encoder != _canonical(encoder_config):
            raise IncompatibleFileError(
                f"{directory}: index was built with encoder config {manifest.encoder}, "
                f"but the query encoder has {_canonical(encoder_config)}"
            )
        for name, digest in manifest.files.items():
            path = directory / name
            if not path.exists():
                raise CorruptFileError(f"{path}: listed in the manifest but missing")
            if sha256_file(path) != digest:
                raise CorruptFileError(f"{path}: checksum does not match the manifest (file damaged)")
        return manifest

    def _check_fields(self, where: Path) -> None:
        """Types and ranges of the fields (a damaged version-1 manifest has no checksum to catch them)."""
        whole = (int,)
        if not isinstance(self.dimension, whole) or isinstance(self.dimension, bool) or self.dimension <= 0:
            raise CorruptFileError(f"{where}: dimension must be a positive integer, got {self.dimension!r}")
        if not isinstance(self.count, whole) or isinstance(self.count, bool) or self.count < 0:
            raise CorruptFileError(f"{where}: count must be a non-negative integer, got {self.count!r}")
        if not isinstance(self.metric, str) or not isinstance(self.index, str):
            raise CorruptFileError(f"{where}: index and metric must be strings")
        if not isinstance(self.params, dict) or not isinstance(self.files, dict):
            raise CorruptFileError(f"{where}: params and files must be objects")
        for name, digest in self.files.items():
            if not isinstance(digest, str) or top_entry(name) is None:
                raise CorruptFileError(f"{where}: file entry {name!r} is not a safe relative name with a checksum")
