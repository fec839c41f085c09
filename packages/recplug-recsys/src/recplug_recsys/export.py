"""A trained two-tower for serving: its tables in the compressor's export format, the towers' MLPs, and the fitted
feature schema, so new users and items are encoded exactly as in training (unseen values take row 0).

Layout of an export folder ``OUT``::

    OUT/LATEST                    the name of the current version (written last, atomically)
    OUT/<version>/manifest.json   format, compressor, tower shapes, table specs, id columns, sha256 of every file
    OUT/<version>/user_tables.pt  compressor.export(user tables)      (and item_tables.pt)
    OUT/<version>/towers.pt       the MLPs' weights (plain tensors; read with weights_only=True)
    OUT/<version>/schema.json     the fitted schema

A new export writes a whole new version folder, then swaps ``LATEST`` by rename, then removes older versions:
a save killed at any moment leaves the previous export (or the new one) loadable.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recplug.errors import CorruptFileError, IncompatibleFileError, InvalidInputError
from recplug.fileio import atomic_save_with, atomic_write_json, atomic_write_text, read_json, sha256_file
from recplug.protocols import TableSpec

from recplug_recsys.features import encode_tower, kjt_of
from recplug_recsys.model import TowerConfig, TwoTowerModel
from recplug_recsys.schema import FittedSchema

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    import torch

EXPORT_FORMAT = 1
VERSION = re.compile(r"v\d{8}-\d{6}-[0-9a-f]{8}")  # the folders export_model writes
FILES = ("user_tables.pt", "item_tables.pt", "towers.pt", "schema.json")


def export_model(model: TwoTowerModel, compressor: Any, compressor_config: dict[str, Any], schema: FittedSchema,
                 id_columns: dict[str, str], out: str | Path) -> Path:
    """Write ``model`` for serving under ``out`` (see the module doc); returns the new version's folder."""
    import torch
    from recplug_eval.paths import make_output_dir

    out = make_output_dir(out, "export folder")
    version = out / f"v{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    version.mkdir()
    user = compressor.export(model.user_ebc, version / "user_tables.pt")
    item = compressor.export(model.item_ebc, version / "item_tables.pt")
    towers = {f"user_mlp.{k}": v.detach().cpu() for k, v in model.user_mlp.state_dict().items()}
    towers |= {f"item_mlp.{k}": v.detach().cpu() for k, v in model.item_mlp.state_dict().items()}
    atomic_save_with(version / "towers.pt", lambda tmp: torch.save(towers, tmp))
    atomic_write_text(version / "schema.json", schema.to_json())
    manifest = {
        "format": EXPORT_FORMAT, "compressor": compressor_config, "tower": asdict(model.config),
        "user_tables": [asdict(t) for t in model.user_tables], "item_tables": [asdict(t) for t in model.item_tables],
        "id_columns": id_columns, "serving_bytes": {"user": user.serving_bytes, "item": item.serving_bytes},
        "sha256": {name: sha256_file(version / name) for name in FILES},
    }
    atomic_write_json(version / "manifest.json", manifest)
    previous = (out / "LATEST").read_text().strip() if (out / "LATEST").is_file() else None
    atomic_write_text(out / "LATEST", version.name + "\n")  # the swap: the new version is now the export
    for old in out.iterdir():  # older exports of ours; the previous one stays for a reader that is loading it
        if old.is_dir() and VERSION.fullmatch(old.name) and old.name not in (version.name, previous):
            shutil.rmtree(old, ignore_errors=True)
    return version


class ExportedTwoTower:
    """A loaded export: ``embed("user" | "item", frame) -> N x D`` L2-normalised embeddings of new rows.

    Args:
        folder: an export folder (``OUT`` above).
        pm: plugin manager for the compressor (default: :func:`recplug.manager.load_plugin_manager`).
    """

    def __init__(self, folder: str | Path, pm: Any = None) -> None:
        import torch
        from recplug.manager import load_plugin_manager

        folder = Path(folder)
        latest = folder / "LATEST"
        if not latest.is_file():
            raise CorruptFileError(f"{folder}: no LATEST file (is it the output of `recplug recsys-export`?)")
        version = folder / latest.read_text().strip()
        manifest = read_json(version / "manifest.json")
        if manifest.get("format") != EXPORT_FORMAT:
            raise IncompatibleFileError(f"{version}: export format {manifest.get('format')}, expected {EXPORT_FORMAT}")
        for name, digest in manifest["sha256"].items():
            if not (version / name).is_file() or sha256_file(version / name) != digest:
                raise CorruptFileError(f"{version / name}: missing or its checksum does not match the manifest")
        pm = pm or load_plugin_manager()
        compressor = pm.create("embedding_compressor", manifest["compressor"]["name"],
                               **manifest["compressor"].get("options", {}))
        specs = {t: [TableSpec(**{**s, "feature_names": tuple(s["feature_names"])}) for s in manifest[f"{t}_tables"]]
                 for t in ("user", "item")}
        config = manifest["tower"]
        self.model = TwoTowerModel(specs["user"], specs["item"], compressor,
                                   TowerConfig(config["embedding_dim"], tuple(config["hidden"]), config["output_dim"]))
        self.model.user_ebc = compressor.load_export(version / "user_tables.pt", specs["user"])
        self.model.item_ebc = compressor.load_export(version / "item_tables.pt", specs["item"])
        towers = torch.load(version / "towers.pt", map_location="cpu", weights_only=True)
        for tower in ("user", "item"):
            mlp = getattr(self.model, f"{tower}_mlp")
            mlp.load_state_dict({k.split(".", 1)[1]: v for k, v in towers.items() if k.startswith(f"{tower}_mlp.")})
        self.model.eval()
        self.schema = FittedSchema.from_json((version / "schema.json").read_text())
        self.id_columns = manifest["id_columns"]
        self.manifest = manifest

    def embed(self, tower: str, frame: pl.DataFrame, batch_size: int = 4096) -> torch.Tensor:
        """``N x D`` embeddings of the ``N`` rows of a users / items table (the id column named as in training,
        plus the feature columns): the saved schema is applied, never refitted."""
        import polars as pl
        import torch

        if tower not in ("user", "item"):
            raise InvalidInputError(f"tower must be 'user' or 'item', got {tower!r}")
        if frame.height == 0:
            raise InvalidInputError(f"the {tower}s table is empty: nothing to embed")
        column = self.id_columns[tower]
        if column not in frame.columns:
            raise InvalidInputError(f"the {tower}s table has no id column {column!r} (the one training used)")
        frame = frame.with_columns(frame[column].cast(pl.Utf8).alias(f"raw_{tower}_id"))
        columns = encode_tower(self.schema, tower, frame)
        features = self.schema.user_features if tower == "user" else self.schema.item_features
        run = self.model.user_tower if tower == "user" else self.model.item_tower
        with torch.no_grad():
            return torch.cat([run(kjt_of(columns, features, torch.arange(s, min(s + batch_size, frame.height))))
                              for s in range(0, frame.height, batch_size)])


def export_run(run_dir: str | Path, out: str | Path, pm: Any = None) -> Path:
    """Export the ``best.pt`` model of a finished run (with the schema it was trained with) to ``out``."""
    from recplug.manager import load_plugin_manager
    from recplug_eval.paths import check_output_dir

    from recplug_recsys.trainer import load_best

    check_output_dir(out, "export folder")  # before loading the run
    pm = pm or load_plugin_manager()
    config, model, compressor, schema = load_best(run_dir, pm)
    ids = {"user": config.data.user_column, "item": config.data.item_column}
    return export_model(model, compressor, {"name": config.compressor.name, "options": config.compressor.options},
                        schema, ids, out)


def describe_export(version: Path) -> str:
    """One line: where the export went and its serving bytes."""
    manifest = read_json(version / "manifest.json")
    b = manifest["serving_bytes"]
    return f"exported to {version} (tables: user {b['user']:,} bytes, item {b['item']:,} bytes)"
