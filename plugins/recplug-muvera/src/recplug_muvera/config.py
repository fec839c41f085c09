"""FDE configuration, field for field as the reference's ``FixedDimensionalEncodingConfig`` proto.

The reference (google/graph-mining ``sketching/point_cloud/fixed_dimensional_encoding_config.proto``)
defines: ``dimension``, ``num_repetitions`` (default 1), ``num_simhash_projections``, ``seed``
(default 1), ``encoding_type`` (``DEFAULT_SUM`` | ``AVERAGE``), ``projection_dimension``,
``projection_type`` (``DEFAULT_IDENTITY`` | ``AMS_SKETCH``), ``fill_empty_partitions`` and
``final_projection_dimension``. :class:`FDEConfig` adds one field of its own, ``random_source``: where
the random matrices come from (``"numpy"``: a fast NumPy generator; ``"reference"``: the reference's
std::mt19937 + libstdc++ streams, so FDEs equal the C++ reference's bit for bit up to float rounding).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from recplug.errors import ConfigError

EncodingType = Literal["DEFAULT_SUM", "AVERAGE"]
ProjectionType = Literal["DEFAULT_IDENTITY", "AMS_SKETCH"]
RandomSource = Literal["numpy", "reference"]

#: Most repetitions an FDE may have: their matrices are drawn, and (identity projection) encoded, one at a
#: time in Python, so beyond this building an encoder takes minutes whatever the memory (the paper uses <= 40).
MAX_REPETITIONS = 4096
#: Most dimensions of an FDE before the final projection: 2**24 float32s are 64 MiB per point set.
MAX_RAW_DIMENSION = 2**24

ENCODING_TYPES = ("DEFAULT_SUM", "AVERAGE")
PROJECTION_TYPES = ("DEFAULT_IDENTITY", "AMS_SKETCH")
RANDOM_SOURCES = ("numpy", "reference")


@dataclass(frozen=True)
class FDEConfig:
    """One fixed dimensional encoding (see the module docstring for the fields' origin).

    Attributes:
        dimension: ``D``, the dimension of the input vectors.
        num_repetitions: ``R``, independent partitionings concatenated.
        num_simhash_projections: ``k_sim``; each repetition has ``2**k_sim`` partitions (0 <= k_sim < 31).
        seed: repetition ``r`` draws its matrices from ``seed + r``; the final count sketch from ``seed``.
        encoding_type: ``"DEFAULT_SUM"`` (queries: sum per partition) or ``"AVERAGE"`` (documents: mean).
        projection_type: ``"DEFAULT_IDENTITY"`` or ``"AMS_SKETCH"`` (one unscaled +-1 per input coordinate).
        projection_dimension: ``d_proj`` for ``AMS_SKETCH`` (ignored, and must be None, for identity).
        fill_empty_partitions: fill an empty partition with the point whose SimHash bits are nearest in
            Hamming distance (ties to the lowest index); only with ``AVERAGE``, as in the reference.
        final_projection_dimension: if set, an unscaled count sketch to this many dimensions.
        random_source: ``"numpy"`` (fast, default) or ``"reference"`` (C++ reference compatible).
    """

    dimension: int
    num_repetitions: int = 1
    num_simhash_projections: int = 0
    seed: int = 1
    encoding_type: EncodingType = "DEFAULT_SUM"
    projection_type: ProjectionType = "DEFAULT_IDENTITY"
    projection_dimension: int | None = None
    fill_empty_partitions: bool = False
    final_projection_dimension: int | None = None
    random_source: RandomSource = "numpy"

    def __post_init__(self) -> None:
        for name in ("dimension", "num_repetitions", "num_simhash_projections", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"FDE config: {name} must be an integer, got {value!r}")
        if self.dimension <= 0:
            raise ConfigError(f"FDE config: dimension must be positive, got {self.dimension}")
        if not 0 < self.num_repetitions <= MAX_REPETITIONS:
            raise ConfigError(
                f"FDE config: num_repetitions must be in [1, {MAX_REPETITIONS}] (the paper uses at most 40), "
                f"got {self.num_repetitions}"
            )
        if not 0 <= self.num_simhash_projections < 31:
            raise ConfigError(
                f"FDE config: num_simhash_projections must be in [0, 31), got {self.num_simhash_projections}"
            )
        if not -(2**31) <= self.seed < 2**31:
            raise ConfigError(f"FDE config: seed must fit an int32 (as in the reference), got {self.seed}")
        if self.encoding_type not in ENCODING_TYPES:
            raise ConfigError(f"FDE config: encoding_type must be one of {ENCODING_TYPES}, got {self.encoding_type!r}")
        if self.projection_type not in PROJECTION_TYPES:
            raise ConfigError(
                f"FDE config: projection_type must be one of {PROJECTION_TYPES}, got {self.projection_type!r}"
            )
        if self.random_source not in RANDOM_SOURCES:
            raise ConfigError(f"FDE config: random_source must be one of {RANDOM_SOURCES}, got {self.random_source!r}")
        if not isinstance(self.fill_empty_partitions, bool):
            raise ConfigError(f"FDE config: fill_empty_partitions must be True or False, got {self.fill_empty_partitions!r}")
        if self.projection_type == "AMS_SKETCH":
            if (
                isinstance(self.projection_dimension, bool)
                or not isinstance(self.projection_dimension, int)
                or self.projection_dimension <= 0
            ):
                raise ConfigError(
                    f"FDE config: AMS_SKETCH needs a positive projection_dimension, got {self.projection_dimension!r}"
                )
        elif self.projection_dimension is not None:
            raise ConfigError("FDE config: projection_dimension is only used with projection_type AMS_SKETCH")
        if self.fill_empty_partitions and self.encoding_type != "AVERAGE":
            raise ConfigError(
                "FDE config: fill_empty_partitions is only defined for AVERAGE (document) encodings; "
                "the reference rejects it for DEFAULT_SUM (query) encodings"
            )
        final = self.final_projection_dimension
        if final is not None and (isinstance(final, bool) or not isinstance(final, int) or final <= 0):
            raise ConfigError(f"FDE config: final_projection_dimension must be a positive integer, got {final!r}")
        if self.raw_dimension > MAX_RAW_DIMENSION:
            raise ConfigError(
                f"FDE config: an FDE of R * 2**k_sim * block = {self.num_repetitions:,} * {self.num_partitions:,} * "
                f"{self.block_dimension} = {self.raw_dimension:,} dimensions ({self.raw_dimension * 4 / 2**30:.1f} GiB "
                f"per set) is over the limit of {MAX_RAW_DIMENSION:,}; the paper's largest is 20 * 32 * 16 = 10,240"
            )

    # ------------------------------------------------------------------ derived sizes
    @property
    def num_partitions(self) -> int:
        """``P = 2**k_sim`` partitions per repetition."""
        return 1 << self.num_simhash_projections

    @property
    def block_dimension(self) -> int:
        """Width of one partition's block: ``d_proj`` (AMS) or ``D`` (identity)."""
        return self.dimension if self.projection_type == "DEFAULT_IDENTITY" else int(self.projection_dimension or 0)

    @property
    def raw_dimension(self) -> int:
        """``R * P * block`` before the final projection."""
        return self.num_repetitions * self.num_partitions * self.block_dimension

    @property
    def output_dimension(self) -> int:
        """Length of an FDE: ``final_projection_dimension`` if set, else :attr:`raw_dimension`."""
        return self.final_projection_dimension or self.raw_dimension

    # ------------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (stored in encoder configs and index manifests)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FDEConfig:
        """Build from :meth:`to_dict` output or a reference-style dict (unknown keys are an error)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"FDE config: unknown fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def for_queries(self) -> FDEConfig:
        """The query side of this config: ``DEFAULT_SUM`` without filling (same partitions and seed)."""
        return replace(self, encoding_type="DEFAULT_SUM", fill_empty_partitions=False)

    def for_documents(self, fill_empty_partitions: bool = True) -> FDEConfig:
        """The document side of this config: ``AVERAGE``, filling empty partitions by default."""
        return replace(self, encoding_type="AVERAGE", fill_empty_partitions=fill_empty_partitions)


#: Fields a MUVERA setup may set (``dimension`` comes from the token encoder or the index).
SETUP_FIELDS = (
    "num_repetitions",
    "num_simhash_projections",
    "projection_dimension",
    "final_projection_dimension",
    "seed",
    "random_source",
    "fill_empty_partitions",
)


def document_config(
    dimension: int,
    num_repetitions: int = 20,
    num_simhash_projections: int = 5,
    projection_dimension: int | None = 16,
    final_projection_dimension: int | None = None,
    seed: int = 1,
    random_source: RandomSource = "numpy",
    fill_empty_partitions: bool = True,
) -> FDEConfig:
    """The document side of a MUVERA setup (``AVERAGE``; the paper's (R, k_sim, d_proj) = (20, 5, 16)
    by default; ``projection_dimension=None`` is the identity). Queries use :meth:`FDEConfig.for_queries`."""
    return FDEConfig(
        dimension=int(dimension),
        num_repetitions=num_repetitions,
        num_simhash_projections=num_simhash_projections,
        seed=seed,
        encoding_type="AVERAGE",
        projection_type="DEFAULT_IDENTITY" if projection_dimension is None else "AMS_SKETCH",
        projection_dimension=projection_dimension,
        fill_empty_partitions=fill_empty_partitions,
        final_projection_dimension=final_projection_dimension,
        random_source=random_source,
    )
