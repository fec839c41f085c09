"""Conformance kit for embedding compressors (:class:`recplug.protocols.EmbeddingCompressor`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recplug.errors import CorruptFileError, IncompatibleFileError
from recplug.protocols import CompressorCapabilities, ExportInfo, TableSpec
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
        compressor_spec: the compressor's record, to compare capabilities with (default: the installed
            component of the compressor's ``name``; ``None`` skips the comparison).
    """

    @pytest.fixture
    def table_specs(self) -> list[TableSpec]:
        return list(DEFAULT_TABLES)

    @pytest.fixture
    def compressor_spec(self, compressor: Any) -> Any:
        from recplug.manager import load_plugin_manager

        return load_plugin_manager().components_of("embedding_compressor").get(compressor.name)

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
        # troubleshooting: capabilities are typed flags (CompressorCapabilities(export=True, ...)), not a set of tags
        assert isinstance(compressor.capabilities, CompressorCapabilities), type(compressor.capabilities)

    def test_capabilities_agree_with_the_record(self, compressor: Any, compressor_spec: Any) -> None:
        """The flags that do not depend on options (``export``, ``fused``, ``sharded``) are the same on the
        built compressor and on its record, so listings and hosts that read the record tell the truth."""
        if compressor_spec is None:
            pytest.skip(f"{compressor.name!r} is not an installed component; override the compressor_spec fixture")
        own, declared = compressor.capabilities, compressor_spec.capabilities
        # troubleshooting: the record's capabilities= and the class's capabilities attribute disagree
        static = {"export": (own.export, declared.export), "fused": (own.fused, declared.fused),
                  "sharded": (own.sharded, declared.sharded)}
        assert all(a == b for a, b in static.values()), f"instance {own}, record {declared}"

    def test_after_optimizer_step_keeps_what_capabilities_say(
        self, compressor: Any, table_specs: list[TableSpec]
    ) -> None:
        """``after_optimizer_step`` returns statistics (names to floats); with ``capabilities.after_step`` False it
        leaves the tables as they are, with True the tables still give finite outputs afterwards."""
        import torch

        module = compressor.build(table_specs)
        before = {k: v.detach().clone() for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}
        stats = compressor.after_optimizer_step(module, 0)
        assert isinstance(stats, dict) and all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in stats.items()), stats
        if compressor.capabilities.after_step:
            assert torch.isfinite(module(random_kjt(table_specs, seed=7)).values()).all()
            return
        after = module.state_dict()
        # troubleshooting: a compressor that changes its tables between steps must declare after_step=True
        changed = [key for key, value in before.items() if not torch.equal(after[key], value)]
        assert not changed, f"after_optimizer_step changed {changed} but capabilities.after_step is False"

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

        if not compressor.capabilities.export:
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
        if not compressor.capabilities.export:
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
        if not compressor.capabilities.export:
            pytest.skip("compressor has no export")
        info = compressor.export(trained_module, tmp_path / "tables.pt")
        raw = Path(info.path).read_bytes()
        Path(info.path).write_bytes(raw[: len(raw) // 2])
        with pytest.raises(CorruptFileError):
            compressor.load_export(info.path, table_specs)
