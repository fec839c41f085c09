"""The core's plain embedding tables: one dense torchrec table per :class:`TableSpec`.

This is the baseline every embedding compressor is measured against. torch and torchrec are imported
when :meth:`DenseTables.build` is called, never when the plugin is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recplug.checks import check_real
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError
from recplug.fileio import atomic_save_with
from recplug.memory import check_fits
from recplug.protocols import CompressorCapabilities, ExportInfo, TableSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch


def require_torchrec() -> Any:
    """Import torchrec or fail with what to install."""
    try:
        import torchrec
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "this component needs torchrec 1.8.0 with fbgemm-gpu-cpu 1.8.0: run `bash tools/env/setup.sh`, or "
            "`pip install fbgemm-gpu-cpu==1.8.0 tensordict torchmetrics==1.0.3 pyre-extensions` then "
            "`pip install --no-deps torchrec==1.8.0`"
        ) from exc
    return torchrec


def check_tables(tables: Sequence[TableSpec], owner: str = "embedding tables") -> list[TableSpec]:
    """``tables`` as a list of :class:`TableSpec` with distinct table and feature names; else a ConfigError."""
    if isinstance(tables, (str, bytes)) or not isinstance(tables, Sequence):
        raise ConfigError(f"{owner}: tables must be a list of TableSpec, got {type(tables).__name__}")
    tables = list(tables)
    if not tables:
        raise ConfigError(f"{owner}: no tables given")
    for table in tables:
        if not isinstance(table, TableSpec):
            raise ConfigError(f"{owner}: tables must be TableSpec records, got {type(table).__name__}")
    names = [t.name for t in tables]
    features = [f for t in tables for f in t.feature_names]
    for what, values in (("table", names), ("feature", features)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(f"{owner}: {what} name(s) {repeated} appear more than once")
    return tables


def check_device(device: Any, owner: str = "embedding tables") -> Any:
    """The ``torch.device`` of ``device`` (a string such as ``"cpu"``, ``"cuda:0"``, ``"meta"``); a malformed
    name or a CUDA device on a machine without it is a ConfigError."""
    import torch

    if not isinstance(device, (str, torch.device)):
        raise ConfigError(f"{owner}: device must be a string such as 'cpu', 'cuda' or 'meta', got {device!r}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ConfigError(f"{owner}: device {device!r} is not a device name such as 'cpu', 'cuda:0' or 'meta'") from exc
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (parsed.index or 0) >= count:
            raise ConfigError(f"{owner}: device {device!r} is not available ({count} CUDA device(s) visible)")
    elif parsed.type not in ("cpu", "meta"):
        raise ConfigError(f"{owner}: device {device!r} is not supported; use 'cpu', 'cuda[:N]' or 'meta'")
    return parsed


#: the largest initial standard deviation accepted: far beyond any embedding initialisation in use (torchrec's default
#: is uniform within ±1/√N); tables drawn wider overflowed float32 within two training steps (int8 at 27,711)
MAX_INIT_STD = 100.0


def check_init_std(init_std: Any, owner: str = "embedding tables") -> float | None:
    """``None`` or a finite standard deviation in [0, :data:`MAX_INIT_STD`]."""
    return None if init_std is None else check_real(init_std, f"{owner}: init_std", low=0, high=MAX_INIT_STD)


def check_tables_fit(tables: Sequence[TableSpec], device: Any, owner: str, bytes_per_weight: float = 4) -> None:
    """Refuse, with the estimate, tables whose weights (``bytes_per_weight`` each) cannot fit in host memory
    (``meta`` tables allocate nothing; CUDA tables are checked against the device's free memory)."""
    import torch

    nbytes = sum(t.num_embeddings * t.embedding_dim for t in tables) * bytes_per_weight
    where = torch.device(device)
    if where.type == "meta":
        return
    if where.type == "cuda":
        free, _ = torch.cuda.mem_get_info(where)
        if nbytes > free:
            from recplug.memory import ResourceError, format_bytes

            raise ResourceError(f"{owner}: the tables need about {format_bytes(nbytes)}, {format_bytes(free)} free on {where}")
        return
    shapes = ", ".join(f"{t.name} {t.num_embeddings} x {t.embedding_dim}" for t in tables[:3])
    check_fits(nbytes, f"{owner} ({shapes}{', ...' if len(tables) > 3 else ''})")


def embedding_bag_configs(tables: Sequence[TableSpec]) -> list[Any]:
    """torchrec ``EmbeddingBagConfig`` s for ``tables``."""
    tables = check_tables(tables)
    torchrec = require_torchrec()
    pooling = {"sum": torchrec.PoolingType.SUM, "mean": torchrec.PoolingType.MEAN}
    return [
        torchrec.EmbeddingBagConfig(
            name=t.name,
            embedding_dim=t.embedding_dim,
            num_embeddings=t.num_embeddings,
            feature_names=list(t.feature_names),
            pooling=pooling[t.pooling],
        )
        for t in tables
    ]


def table_weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``{table name: weight (num_embeddings x D)}`` of an EmbeddingBagCollection (unsharded)."""
    return {name: bag.weight for name, bag in module.embedding_bags.items()}  # type: ignore[union-attr, operator]


class DenseTables:
    """Plain float32 tables in a torchrec ``EmbeddingBagCollection``.

    Args:
        device: where the tables live (``"cpu"``, ``"cuda"`` or ``"meta"`` for lazy sharded init).
        init_std: standard deviation of the normal initialisation (torchrec's default is uniform
            ``±sqrt(1/num_embeddings)``; ``None`` keeps it).
    """

    name = "dense"
    capabilities = CompressorCapabilities(export=True, fused=True, sharded=True)

    def __init__(self, device: str = "cpu", init_std: float | None = None) -> None:
        if not isinstance(device, str) or not device:
            raise ConfigError(f"{self.name}: device must be a string such as 'cpu', 'cuda' or 'meta', got {device!r}")
        self.device = device
        self.init_std = check_init_std(init_std, self.name)

    def build(self, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """An ``EmbeddingBagCollection``: KeyedJaggedTensor -> KeyedTensor (B x sum D).

        Raises:
            ConfigError: malformed tables or an unusable device.
            recplug.memory.ResourceError: tables larger than the memory available (checked before allocating).
        """
        import torch

        tables = check_tables(tables, self.name)
        device = check_device(self.device, self.name)
        check_tables_fit(tables, device, self.name)
        torchrec = require_torchrec()
        module = torchrec.EmbeddingBagCollection(tables=embedding_bag_configs(tables), device=device)
        if self.init_std is not None and self.device != "meta":
            with torch.no_grad():
                for weight in table_weights(module).values():
                    weight.normal_(0.0, self.init_std)
        return module

    def attach_optimizer(self, optimizer: Any) -> None:
        """Nothing to do: this compressor keeps no optimizer state of its own."""

    def after_optimizer_step(self, module: torch.nn.Module, step: int) -> dict[str, float]:
        """Dense tables do nothing between steps."""
        return {}

    def export(self, module: torch.nn.Module, path: Path) -> ExportInfo:
        """Save the tables' weights (``torch.save`` of plain tensors, atomically)."""
        import torch

        weights = {name: w.detach().cpu().contiguous() for name, w in table_weights(module).items()}
        atomic_save_with(path, lambda tmp: torch.save(weights, tmp))
        nbytes = sum(w.numel() * w.element_size() for w in weights.values())
        return ExportInfo(Path(path), nbytes, {"tables": {n: list(w.shape) for n, w in weights.items()}})

    def load_export(self, path: Path, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """Rebuild an EmbeddingBagCollection from :meth:`export` output (``weights_only=True``)."""
        import torch

        try:
            weights = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CorruptFileError(f"{path}: cannot be read as exported tables ({exc})") from exc
        module = DenseTables(device="cpu").build(tables)
        targets = table_weights(module)
        if set(weights) != set(targets):
            raise IncompatibleFileError(f"{path}: holds tables {sorted(weights)}, the model has {sorted(targets)}")
        with torch.no_grad():
            for name, target in targets.items():
                if tuple(weights[name].shape) != tuple(target.shape):
                    raise IncompatibleFileError(
                        f"{path}: table {name!r} has shape {tuple(weights[name].shape)}, "
                        f"the model expects {tuple(target.shape)}"
                    )
                target.copy_(weights[name])
        return module
