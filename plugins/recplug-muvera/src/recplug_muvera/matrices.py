"""The random matrices of an FDE: drawn from the seed (NumPy or reference streams) or injected."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from recplug.errors import ConfigError

from recplug_muvera import reference_random
from recplug_muvera.config import FDEConfig


@dataclass(frozen=True)
class FDEMatrices:
    """Everything random in an FDE.

    Attributes:
        simhash: ``R x D x k_sim`` float32 Gaussian hyperplanes (``k_sim`` may be 0).
        ams: ``R x D x d_proj`` float32 with one +-1 per row, or None for the identity projection.
        count_sketch_index: ``R*P*block`` int64 target coordinate of each raw FDE coordinate, or None.
        count_sketch_sign: ``R*P*block`` float32 +-1, or None.
    """

    simhash: np.ndarray
    ams: np.ndarray | None = None
    count_sketch_index: np.ndarray | None = None
    count_sketch_sign: np.ndarray | None = None

    def check(self, config: FDEConfig) -> FDEMatrices:
        """Return self after checking every shape against ``config`` (a mismatch is a ConfigError)."""
        r, d, k = config.num_repetitions, config.dimension, config.num_simhash_projections
        if self.simhash.shape != (r, d, k):
            raise ConfigError(f"simhash matrices have shape {self.simhash.shape}, config needs {(r, d, k)}")
        if config.projection_type == "AMS_SKETCH":
            expected = (r, d, config.block_dimension)
            if self.ams is None or self.ams.shape != expected:
                got = None if self.ams is None else self.ams.shape
                raise ConfigError(f"AMS matrices have shape {got}, config needs {expected}")
        if config.final_projection_dimension is not None:
            raw = config.raw_dimension
            index, sign = self.count_sketch_index, self.count_sketch_sign
            if index is None or sign is None or index.shape != (raw,) or sign.shape != (raw,):
                raise ConfigError(f"count sketch must have {raw} indices and signs")
            if index.min() < 0 or index.max() >= config.final_projection_dimension:
                raise ConfigError("count sketch indices fall outside [0, final_projection_dimension)")
        return self


def draw_matrices(config: FDEConfig) -> FDEMatrices:
    """Draw the matrices of ``config`` from its seed with its ``random_source``."""
    r, d, k = config.num_repetitions, config.dimension, config.num_simhash_projections
    ams_on = config.projection_type == "AMS_SKETCH"
    block = config.block_dimension
    simhash = np.zeros((r, d, k), np.float32)
    ams = np.zeros((r, d, block), np.float32) if ams_on else None
    index = sign = None
    if config.random_source == "reference":
        for rep in range(r):
            if k > 0:
                simhash[rep] = reference_random.simhash_matrix(config.seed + rep, d, k)
            if ams is not None:
                ams[rep] = reference_random.ams_matrix(config.seed + rep, d, block)
        if config.final_projection_dimension is not None:
            index, sign = reference_random.count_sketch(
                config.seed, config.raw_dimension, config.final_projection_dimension
            )
    else:
        seed = config.seed % 2**32
        for rep in range(r):
            rng = np.random.default_rng([seed, rep])
            simhash[rep] = rng.standard_normal((d, k), dtype=np.float32)
            if ams is not None:
                ams[rep, np.arange(d), rng.integers(0, block, d)] = rng.integers(0, 2, d) * 2.0 - 1.0
        if config.final_projection_dimension is not None:
            rng = np.random.default_rng([seed, r, 1])
            index = rng.integers(0, config.final_projection_dimension, config.raw_dimension).astype(np.int64)
            sign = (rng.integers(0, 2, config.raw_dimension) * 2.0 - 1.0).astype(np.float32)
    return FDEMatrices(simhash, ams, index, sign)
