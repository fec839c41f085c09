"""Index manifests: what a saved index was built with, checked again when it is loaded.

A saved index is a directory holding its data files and ``manifest.json``::

    {"format": "recplug-index", "format_version": 1, "index": "faiss", "dimension": 384,
     "metric": "ip", "count": 5183, "encoder": {...}, "files": {"index.faiss": "<sha256>"},
     "library_versions": {"recplug": "0.1.0", "faiss": "1.8.0"}, "params": {...}}

Loading compares the stored encoder configuration and dimension with the caller's and every file's
checksum, so a mismatched or damaged index fails loudly instead of returning wrong neighbours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from recplug.errors import CorruptFileError, IncompatibleFileError
from recplug.fileio import atomic_write_json, read_json, sha256_file

MANIFEST_NAME = "manifest.json"
FORMAT = "recplug-index"
FORMAT_VERSION = 1


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

    def write(self, directory: Path) -> None:
        """Checksum the listed files in ``directory`` and write the manifest atomically (last, so a
        directory with a manifest is complete)."""
        self.files = {name: sha256_file(directory / name) for name in self.files}
        self.encoder = _canonical(self.encoder)
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
        raw = read_json(directory / MANIFEST_NAME)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise CorruptFileError(f"{directory / MANIFEST_NAME}: not a recplug index manifest")
        try:
            manifest = cls(**raw)
        except TypeError as exc:
            raise CorruptFileError(f"{directory / MANIFEST_NAME}: unexpected fields ({exc})") from exc
        if manifest.format_version != FORMAT_VERSION:
            raise IncompatibleFileError(
                f"{directory}: index format version {manifest.format_version}, this recplug reads "
                f"version {FORMAT_VERSION}"
            )
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
