"""Test helpers: the golden data folder and a literal (slow) port of the C++ reference as an oracle.

Used by this package's tests and the benchmark; not imported by the plugin itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recplug_muvera.config import FDEConfig
from recplug_muvera.matrices import FDEMatrices


def golden_dir() -> Path:
    """The MUVERA reference outputs: ``muvera-golden`` in the shared data folder."""
    from recplug_eval import shared_data_dir

    return shared_data_dir() / "muvera-golden"


def golden_cases() -> list[dict]:
    return json.loads((golden_dir() / "cases.json").read_text())


def load_case(case: dict) -> tuple[FDEConfig, dict[str, np.ndarray], FDEMatrices]:
    """Config, arrays and the injected matrices of one golden case."""
    config = FDEConfig(**case["config"])
    with np.load(golden_dir() / case["file"], allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    r, d, k = config.num_repetitions, config.dimension, config.num_simhash_projections
    matrices = FDEMatrices(
        simhash=arrays.get("simhash", np.zeros((r, d, k), np.float32)),
        ams=arrays.get("ams"),
        count_sketch_index=arrays.get("count_sketch_index"),
        count_sketch_sign=arrays.get("count_sketch_sign"),
    )
    return config, arrays, matrices


def literal_reference_fde(points: np.ndarray, config: FDEConfig, m: FDEMatrices) -> np.ndarray:
    """Point-by-point transliteration of ``GenerateQuery/DocumentFixedDimensionalEncoding`` (slow oracle)."""
    k, p, block = config.num_simhash_projections, config.num_partitions, config.block_dimension
    out = np.zeros(config.raw_dimension, np.float32)
    for rep in range(config.num_repetitions):
        sketch = points @ m.simhash[rep] if k else np.zeros((len(points), 0), np.float32)
        projected = points if m.ams is None else points @ m.ams[rep]
        sizes = np.zeros(p)
        for i in range(len(points)):
            index = 0
            for j in range(k):  # AppendToGrayCode
                index = (index << 1) + (int(sketch[i, j] > 0) ^ (index & 1))
            start = rep * p * block + index * block
            out[start : start + block] += projected[i]
            sizes[index] += 1
        if config.encoding_type != "AVERAGE":
            continue
        for part in range(p):
            start = rep * p * block + part * block
            if sizes[part] == 0 and k > 0:
                if config.fill_empty_partitions:
                    best, best_distance = -1, None
                    binary = part ^ (part >> 1)  # GrayCodeToBinary
                    for i in range(len(points)):
                        distance, b = 0, binary
                        for j in range(k - 1, -1, -1):
                            distance += int(sketch[i, j] > 0) != (b & 1)
                            b >>= 1
                        if best_distance is None or distance < best_distance:
                            best, best_distance = i, distance
                    out[start : start + block] = projected[best]
                continue
            if sizes[part]:
                out[start : start + block] /= np.float32(sizes[part])
    if config.final_projection_dimension is not None:
        final = np.zeros(config.final_projection_dimension, np.float32)
        assert m.count_sketch_index is not None and m.count_sketch_sign is not None  # a final projection has them
        np.add.at(final, m.count_sketch_index, m.count_sketch_sign * out)
        return final
    return out


def unit_sets(count: int, dimension: int, seed: int = 0, low: int = 1, high: int = 40) -> list[np.ndarray]:
    """``count`` random sets of unit rows with lengths in ``[low, high)``."""
    rng = np.random.default_rng(seed)
    sets = []
    for length in rng.integers(low, high, count):
        x = rng.standard_normal((int(length), dimension)).astype(np.float32)
        sets.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return sets
