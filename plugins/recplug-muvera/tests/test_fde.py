"""FDE behaviour beyond the golden cases: batching, filling, guards, the Chamfer approximation."""

from __future__ import annotations

import numpy as np
import pytest
from recplug.errors import ConfigError, InvalidInputError
from recplug.multivector import MultiVectorBatch
from recplug_muvera.config import FDEConfig
from recplug_muvera.fde import FixedDimensionalEncoder, fde
from recplug_muvera.matrices import FDEMatrices, draw_matrices
from recplug_muvera.testing import literal_reference_fde, unit_sets

CONFIGS = {
    "sum-identity": FDEConfig(dimension=24, num_repetitions=3, num_simhash_projections=3, seed=5),
    "avg-fill-ams": FDEConfig(
        dimension=24,
        num_repetitions=4,
        num_simhash_projections=4,
        seed=9,
        encoding_type="AVERAGE",
        projection_type="AMS_SKETCH",
        projection_dimension=8,
        fill_empty_partitions=True,
    ),
    "avg-nofill-final": FDEConfig(
        dimension=24,
        num_repetitions=2,
        num_simhash_projections=5,
        seed=-3,
        encoding_type="AVERAGE",
        final_projection_dimension=100,
        random_source="reference",
    ),
    "avg-fill-k6-final": FDEConfig(
        dimension=24,
        num_repetitions=2,
        num_simhash_projections=6,
        seed=2,
        encoding_type="AVERAGE",
        projection_type="AMS_SKETCH",
        projection_dimension=4,
        fill_empty_partitions=True,
        final_projection_dimension=64,
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_batched_encoding_equals_the_literal_reference_per_set(name: str) -> None:
    config = CONFIGS[name]
    sets = unit_sets(25, config.dimension, seed=1, low=1, high=30)
    encoder = FixedDimensionalEncoder(config)
    batched = encoder(sets)
    assert batched.shape == (25, config.output_dimension) and batched.dtype == np.float32
    for i in (0, 3, 11, 24):
        expected = literal_reference_fde(sets[i], config, encoder.matrices)
        np.testing.assert_allclose(batched[i], expected, rtol=1e-5, atol=1e-6)


def test_chunking_does_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    config = CONFIGS["avg-fill-ams"]
    sets = unit_sets(40, config.dimension, seed=2)
    whole = fde(sets, config)
    monkeypatch.setattr("recplug_muvera.fde.CHUNK_VECTORS", 17)
    np.testing.assert_allclose(fde(sets, config), whole, rtol=1e-6, atol=1e-7)
    monkeypatch.setattr("recplug_muvera.fde.CHUNK_FLOATS", 3 * config.raw_dimension)  # 3 sets per chunk
    np.testing.assert_allclose(fde(sets, config), whole, rtol=1e-6, atol=1e-7)
    final = CONFIGS["avg-fill-k6-final"]
    assert fde(sets[:7], final).flags.c_contiguous  # one chunk is returned as it is: FAISS wants C order
    np.testing.assert_allclose(
        fde(sets[:7], final), np.concatenate([fde([s], final) for s in sets[:7]]), rtol=1e-5, atol=1e-6
    )


def test_fill_takes_nearest_pattern_with_ties_to_the_lowest_index() -> None:
    """Two points with the same sign pattern: the empty partitions copy the first one, not the second."""
    config = FDEConfig(
        dimension=2, num_repetitions=1, num_simhash_projections=1, encoding_type="AVERAGE", fill_empty_partitions=True
    )
    matrices = FDEMatrices(simhash=np.array([[[1.0], [0.0]]], np.float32))  # sign of the first coordinate
    points = np.array([[0.5, 0.1], [0.6, -0.9]], np.float32)  # both > 0: partition 1; partition 0 empty
    out = fde([points], config, matrices)[0].reshape(2, 2)
    np.testing.assert_allclose(out[1], points.mean(axis=0))
    np.testing.assert_array_equal(out[0], points[0])


def test_fill_uses_hamming_distance_to_the_gray_decoded_pattern() -> None:
    """k=3, sign bits = signs of the coordinates. ``a`` (bits 111) lands in partition 5, ``b`` (000) in 0.
    An empty partition p is compared with the pattern p ^ (p >> 1) (GrayCodeToBinary), not with p."""
    config = FDEConfig(
        dimension=3, num_repetitions=1, num_simhash_projections=3, encoding_type="AVERAGE", fill_empty_partitions=True
    )
    matrices = FDEMatrices(simhash=np.eye(3, dtype=np.float32)[None])
    b = -np.ones(3, np.float32) / np.sqrt(3)
    a = np.ones(3, np.float32) / np.sqrt(3)
    out = fde([np.stack([b, a])], config, matrices)[0].reshape(8, 3)
    # partition: pattern -> nearest (ties to b, index 0)
    expected = {0: b, 5: a, 1: b, 2: a, 3: b, 4: a, 6: a, 7: b}
    for partition, point in expected.items():
        np.testing.assert_allclose(out[partition], point, err_msg=f"partition {partition}")


def test_query_fde_dot_document_fde_tracks_chamfer() -> None:
    """The point of FDEs: <q_fde, d_fde> correlates with Chamfer(q, d)."""
    config = FDEConfig(
        dimension=32,
        num_repetitions=20,
        num_simhash_projections=4,
        seed=3,
        encoding_type="AVERAGE",
        fill_empty_partitions=True,
    )
    rng = np.random.default_rng(0)
    query = unit_sets(1, 32, seed=4, low=8, high=9)[0]
    docs = []
    for noise in np.linspace(0.05, 2.0, 40):  # documents from near-copies of the query to unrelated
        near = query + noise * rng.standard_normal(query.shape).astype(np.float32)
        docs.append(np.concatenate([near, unit_sets(1, 32, seed=int(noise * 100), low=20, high=21)[0]]))
        docs[-1] /= np.linalg.norm(docs[-1], axis=1, keepdims=True)
    doc_fdes = fde(docs, config)
    query_fde = fde([query], config.for_queries())[0]
    approx = doc_fdes @ query_fde
    exact = np.array([(query @ d.T).max(axis=1).sum() for d in docs])
    assert np.corrcoef(approx, exact)[0, 1] > 0.9
    assert int(np.argmax(approx)) == int(np.argmax(exact)) == 0


def test_accepts_a_float16_multivector_batch() -> None:
    config = CONFIGS["avg-fill-ams"]
    sets = unit_sets(10, config.dimension, seed=6)
    batch = MultiVectorBatch.from_sets(sets, dtype=np.float16)
    expected = fde([s.astype(np.float16).astype(np.float32) for s in sets], config)
    np.testing.assert_allclose(fde(batch, config), expected, rtol=1e-6, atol=1e-7)


def test_no_sets_give_an_empty_matrix() -> None:
    assert fde([], CONFIGS["sum-identity"]).shape == (0, CONFIGS["sum-identity"].output_dimension)


@pytest.mark.parametrize(
    "sets",
    [
        [np.zeros((0, 24), np.float32)],  # empty set
        [np.ones((2, 24), np.float32), np.ones((2, 23), np.float32)],  # ragged
        [np.full((2, 24), np.nan, np.float32)],  # NaN
        [np.ones((2, 16), np.float32)],  # dimension mismatch
        [np.ones(24, np.float32)],  # not a matrix
        np.ones((3, 24), np.float32),  # one bare matrix: ambiguous
    ],
    ids=["empty", "ragged", "nan", "dimension", "vector", "bare-matrix"],
)
def test_bad_input_is_an_invalid_input_error(sets) -> None:
    with pytest.raises(InvalidInputError):
        fde(sets, CONFIGS["sum-identity"])


@pytest.mark.parametrize(
    "fields",
    [
        {"dimension": 0},
        {"dimension": 8, "num_simhash_projections": 31},
        {"dimension": 8, "num_repetitions": 0},
        {"dimension": 8, "projection_type": "AMS_SKETCH"},
        {"dimension": 8, "projection_dimension": 4},
        {"dimension": 8, "fill_empty_partitions": True},  # only for AVERAGE, as the reference
        {"dimension": 8, "final_projection_dimension": 0},
        {"dimension": 8, "encoding_type": "MAX"},
        {"dimension": 8, "random_source": "torch"},
        {"dimension": 8, "seed": 2**31},
    ],
)
def test_bad_configs_are_config_errors(fields: dict) -> None:
    with pytest.raises(ConfigError):
        FDEConfig(**fields)


def test_injected_matrices_of_the_wrong_shape_are_rejected() -> None:
    config = CONFIGS["avg-fill-ams"]
    good = draw_matrices(config)
    with pytest.raises(ConfigError):
        FixedDimensionalEncoder(config, FDEMatrices(good.simhash[:, :-1], good.ams))


def test_config_round_trips_through_a_dict() -> None:
    config = CONFIGS["avg-nofill-final"]
    assert FDEConfig.from_dict(config.to_dict()) == config
    assert config.output_dimension == 100 and config.raw_dimension == 2 * 32 * 24
    with pytest.raises(ConfigError):
        FDEConfig.from_dict({**config.to_dict(), "bogus": 1})
