"""Conformance kits: pytest base classes every plugin's tests subclass.

One contract, checked the same way everywhere::

    from recplug.testing import IndexConformance

    class TestMyIndex(IndexConformance):
        @pytest.fixture
        def make_index(self):
            return lambda: MyIndex(dimension=16)

Each kit's docstring lists the fixtures to provide and those that have defaults you may override.
Importing this package imports pytest and numpy, never torch or faiss (kits import them inside tests).
"""

from recplug.testing.compressor_kit import CompressorConformance
from recplug.testing.encoder_kit import EncoderConformance
from recplug.testing.index_kit import IndexConformance, write_resealed_manifest
from recplug.testing.regularizer_kit import RegularizerConformance

__all__ = ["CompressorConformance", "EncoderConformance", "IndexConformance", "RegularizerConformance", "write_resealed_manifest"]
