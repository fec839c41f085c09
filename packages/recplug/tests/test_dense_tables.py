"""The built-in dense torchrec tables pass the compressor kit."""

from __future__ import annotations

import pytest
from recplug.builtins.dense_tables import DenseTables
from recplug.errors import ConfigError
from recplug.protocols import TableSpec
from recplug.testing import CompressorConformance

# In the core-only nox venv torchrec is absent; everywhere else (make test, CI) it is installed.
torchrec = pytest.importorskip("torchrec", reason="the dense tables need torchrec (see tools/env/setup.sh)")


class TestDenseTables(CompressorConformance):
    @pytest.fixture
    def compressor(self):
        return DenseTables(init_std=0.1)


def test_table_spec_checks():
    with pytest.raises(ConfigError, match="positive"):
        TableSpec("t", 0, 4, ("f",))
    with pytest.raises(ConfigError, match="feature_names"):
        TableSpec("t", 3, 4, ())
    with pytest.raises(ConfigError, match="pooling"):
        TableSpec("t", 3, 4, ("f",), pooling="max")  # type: ignore[arg-type]
