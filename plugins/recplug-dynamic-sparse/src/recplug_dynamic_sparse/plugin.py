"""Hook implementations of recplug-dynamic-sparse (loaded through the entry point; imports nothing heavy).

Embedding compressors:

- ``dsl``: Dynamic Sparse Learning (Wang et al., WSDM 2024), fixed density, prune/grow every ΔT steps.
- ``magnitude-prune``: dense training, one-shot magnitude pruning.
- ``hashing``: the hashing trick; ``quotient-remainder``: the compositional (QR) trick; ``multiplexed``: several
  tables hashed into one shared table (feature multiplexing).
- ``int8`` / ``int4``: row-wise quantized tables.
"""

from __future__ import annotations

from typing import Any

from recplug.hookspecs import hookimpl
from recplug.protocols import CompressorCapabilities
from recplug.records import EmbeddingCompressorSpec, LazyFactory, lazy_factory

#: what every compressor here supports; ``_STEPPED`` ones also act after optimizer steps (with default options)
_ALL = CompressorCapabilities(export=True, fused=True, sharded=True)
_STEPPED = CompressorCapabilities(after_step=True, export=True, fused=True, sharded=True)


def _lazy(target: str, **fixed: Any) -> LazyFactory:
    """``module:Class`` of this package, imported only when the component is built."""
    return lazy_factory(f"recplug_dynamic_sparse.{target}", **fixed)


@hookimpl
def recplug_embedding_compressors() -> list[EmbeddingCompressorSpec]:
    spec = EmbeddingCompressorSpec
    return [
        spec("dsl", _lazy("dsl:DynamicSparseTables"), "Dynamic Sparse Learning (WSDM 2024): fixed-density masks, "
             "magnitude prune / gradient grow every ΔT steps, sparse-row export", _STEPPED),
        spec("magnitude-prune", _lazy("magnitude:MagnitudePrunedTables"),
             "dense training, one-shot magnitude pruning to a density, sparse-row export", _STEPPED),
        spec("hashing", _lazy("remapped_tables:HashedTables"), "hashing trick: ids share density·N rows", _ALL),
        spec("quotient-remainder", _lazy("remapped_tables:QuotientRemainderTables"),
             "quotient-remainder (compositional) trick: Q[id // m] + R[id mod m] within density·N rows", _ALL),
        spec("multiplexed", _lazy("remapped_tables:MultiplexedTables"), "feature multiplexing (Unified Embedding, "
             "NeurIPS 2023): the tables of a group hash into one shared table of density·ΣN rows", _ALL),
        spec("int8", _lazy("quantized:QuantizedTables", bits=8), "row-wise int8 tables (low-precision training "
             "or post-training)", _STEPPED),
        spec("int4", _lazy("quantized:QuantizedTables", bits=4), "row-wise int4 tables (low-precision training "
             "or post-training)", _STEPPED),
    ]


@hookimpl
def recplug_demo_steps():
    from recplug_dynamic_sparse.demo import demo_steps

    return demo_steps()
