"""The core's plain embedding tables: one dense torchrec table per :class:`TableSpec`.

This is the baseline every embedding compressor is measured against. torch and torchrec are imported
when :meth:`DenseTables.build` is called, never when the plugin is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recplug.errors import CorruptFileError, IncompatibleFileError
from recplug.fileio import atomic_save_with
from recplug.protocols import ExportInfo, TableSpec

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


def embedding_bag_configs(tables: Sequence[TableSpec]) -> list[Any]:
    """torchrec ``EmbeddingBagConfig`` s for ``tables``."""
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
    capabilities = frozenset({"export", "fused", "sharded"})

    def __init__(self, device: str = "cpu", init_std: float | None = None) -> None:
        self.device = device
        self.init_std = init_std

    def build(self, tables: Sequence[TableSpec]) -> torch.nn.Module:
        """An ``EmbeddingBagCollection``: KeyedJaggedTensor -> KeyedTensor (B x sum D)."""
        import torch

        torchrec = require_torchrec()
        module = torchrec.EmbeddingBagCollection(tables=embedding_bag_configs(tables), device=torch.device(self.device))
        if self.init_std is not None and self.device != "meta":
            with torch.no_grad():
                for weight in table_weights(module).values():
                    weight.normal_(0.0, self.init_std)
        return module

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
