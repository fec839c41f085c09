"""Conformance kit for embedding compressors (:class:`recplug.protocols.EmbeddingCompressor`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recplug.errors import CorruptFileError, IncompatibleFileError
from recplug.protocols import ExportInfo, TableSpec
from recplug.testing.kit_guard import ConformanceKit

DEFAULT_TABLES = [
    TableSpec("t_item", 200, 16, ("item_id",)),
    TableSpec("t_genre", 20, 8, ("genre",), pooling="sum"),
]


def random_kjt(tables: list[TableSpec], batch_size: int = 8, max_values: int = 3, seed: int = 0) -> Any:
    """A KeyedJaggedTensor with 1..max_values random ids per feature and example."""
    import torch
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    generator = torch.Generator().manual_seed(seed)
    keys, values, lengths = [], [], []
    for table in tables:
        for feature in table.feature_names:
            lens = torch.randint(1, max_values + 1, (batch_size,), generator=generator)
            keys.append(feature)
            lengths.append(lens)
            values.append(torch.randint(0, table.num_embeddings, (int(lens.sum()),), generator=generator))
    return KeyedJaggedTensor.from_lengths_sync(keys=keys, values=torch.cat(values), lengths=torch.cat(lengths))


class CompressorConformance(ConformanceKit):
    """Checks build / forward / train step / export round trip / errors of a compressor.

    Fixtures to provide:
        compressor: the built component.

    Fixtures with defaults:
        table_specs: the tables to build (default: a 200 x 16 item table and a 20 x 8 genre table).
        training_steps: optimizer steps to run before exporting (default 3).
    """

    @pytest.fixture
    def table_specs(self) -> list[TableSpec]:
        return list(DEFAULT_TABLES)

    @pytest.fixture
    def training_steps(self) -> int:
        return 3

    @pytest.fixture
    def trained_module(self, compressor: Any, table_specs: list[TableSpec], training_steps: int) -> Any:
        import torch

        module = compressor.build(table_specs)
        params = [p for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=0.1) if params else None
        for step in range(training_steps):
            kjt = random_kjt(table_specs, seed=step)
            loss = module(kjt).values().pow(2).sum()
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            stats = compressor.after_optimizer_step(module, step)
            assert isinstance(stats, dict) and all(isinstance(v, (int, float)) for v in stats.values())
        return module

    def test_declares_protocol_attributes(self, compressor: Any) -> None:
        from recplug.protocols import EmbeddingCompressor

        assert isinstance(compressor, EmbeddingCompressor), "build / attach_optimizer / after_optimizer_step / export ..."
        assert isinstance(compressor.name, str) and compressor.name
        assert isinstance(compressor.capabilities, frozenset)
        assert all(isinstance(c, str) for c in compressor.capabilities)

    def test_forward_gives_pooled_embeddings(self, compressor: Any, table_specs: list[TableSpec]) -> None:
        import torch

        module = compressor.build(table_specs)
        out = module(random_kjt(table_specs, batch_size=5))
        features = [f for t in table_specs for f in t.feature_names]
        assert list(out.keys()) == features
        assert out.values().shape == (5, sum(t.embedding_dim for t in table_specs for _ in t.feature_names))
        assert torch.isfinite(out.values()).all()

    def test_training_steps_keep_outputs_finite(self, trained_module: Any, table_specs: list[TableSpec]) -> None:
        import torch

        assert torch.isfinite(trained_module(random_kjt(table_specs, seed=99)).values()).all()

    def test_export_round_trip(
        self, compressor: Any, trained_module: Any, table_specs: list[TableSpec], tmp_path: Path
    ) -> None:
        import torch

        if "export" not in compressor.capabilities:
            pytest.skip("compressor has no export")
        info = compressor.export(trained_module, tmp_path / "tables.pt")
        assert isinstance(info, ExportInfo) and info.serving_bytes > 0
        served = compressor.load_export(info.path, table_specs)
        kjt = random_kjt(table_specs, seed=7)
        with torch.no_grad():
            torch.testing.assert_close(served(kjt).values(), trained_module(kjt).values(), rtol=1e-5, atol=1e-5)

    def test_export_into_other_shape_is_an_error(
        self, compressor: Any, trained_module: Any, table_specs: list[TableSpec], tmp_path: Path
    ) -> None:
        if "export" not in compressor.capabilities:
            pytest.skip("compressor has no export")
        info = compressor.export(trained_module, tmp_path / "tables.pt")
        first = table_specs[0]
        other = [
            TableSpec(first.name, first.num_embeddings + 5, first.embedding_dim, first.feature_names, first.pooling),
            *table_specs[1:],
        ]
        with pytest.raises(IncompatibleFileError):
            compressor.load_export(info.path, other)

    def test_corrupted_export_is_an_error(
        self, compressor: Any, trained_module: Any, table_specs: list[TableSpec], tmp_path: Path
    ) -> None:
        if "export" not in compressor.capabilities:
            pytest.skip("compressor has no export")
        info = compressor.export(trained_module, tmp_path / "tables.pt")
        raw = Path(info.path).read_bytes()
        Path(info.path).write_bytes(raw[: len(raw) // 2])
        with pytest.raises(CorruptFileError):
            compressor.load_export(info.path, table_specs)
