"""Property tests of the FDE encoder (the pure-NumPy part of the ``muvera`` encoder): arbitrary configs and
point clouds either give the reference FDE or a RecplugError, never another exception or a hang; huge
configs are refused up front (issue 30)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st
from recplug.errors import ConfigError, InvalidInputError
from recplug.memory import ResourceError
from recplug.multivector import MultiVectorBatch
from recplug.testing.strategies import ci_settings, garbage, outcome
from recplug_muvera.config import FDEConfig
from recplug_muvera.fde import FixedDimensionalEncoder
from recplug_muvera.testing import literal_reference_fde


@st.composite
def fde_configs(draw) -> FDEConfig:
    encoding = draw(st.sampled_from(["DEFAULT_SUM", "AVERAGE"]))
    ams = draw(st.booleans())
    return FDEConfig(
        dimension=draw(st.integers(1, 10)),
        num_repetitions=draw(st.integers(1, 3)),
        num_simhash_projections=draw(st.integers(0, 4)),
        seed=draw(st.integers(-(2**31), 2**31 - 1)),
        encoding_type=encoding,
        projection_type="AMS_SKETCH" if ams else "DEFAULT_IDENTITY",
        projection_dimension=draw(st.integers(1, 6)) if ams else None,
        fill_empty_partitions=encoding == "AVERAGE" and draw(st.booleans()),
        final_projection_dimension=draw(st.one_of(st.none(), st.integers(1, 40))),
        random_source=draw(st.sampled_from(["numpy", "reference"])),
    )


@st.composite
def point_clouds(draw, dimension: int) -> list[np.ndarray]:
    sets = []
    for _ in range(draw(st.integers(0, 4))):
        length = draw(st.integers(1, 6))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        scale = draw(st.sampled_from([1e-30, 1e-3, 1.0, 1e3, 1e6]))
        points = rng.standard_normal((length, dimension)) * scale
        with np.errstate(over="ignore"):  # float16 overflows to infinity: the encoder must refuse those
            sets.append(points.astype(draw(st.sampled_from([np.float32, np.float64, np.float16]))))
    return sets


@ci_settings(max_examples=120)
@given(data=st.data())
def test_fde_equals_the_reference_on_any_point_cloud(data) -> None:
    config = data.draw(fde_configs(), label="config")
    sets = data.draw(point_clouds(config.dimension), label="sets")
    encoder = FixedDimensionalEncoder(config)
    result = outcome(lambda: encoder(sets))
    if not result.ok:  # float16 points of scale 1e6 overflow to infinity
        assert isinstance(result.error, InvalidInputError)
        assert any(not np.isfinite(s.astype(np.float32)).all() for s in sets)
        return
    out = result.value
    assert out.shape == (len(sets), config.output_dimension) and out.dtype == np.float32
    assert np.isfinite(out).all()
    for i, points in enumerate(sets):
        expected = literal_reference_fde(points.astype(np.float32), config, encoder.matrices)
        scale = max(1.0, float(np.abs(points.astype(np.float64)).max()) * points.shape[0] * config.dimension)
        np.testing.assert_allclose(out[i], expected, rtol=1e-4, atol=1e-5 * scale)
        np.testing.assert_allclose(encoder([points])[0], out[i], rtol=1e-5, atol=1e-6 * scale)  # batch independence


def odd_sets(dimension: int) -> st.SearchStrategy:
    good = np.ones((2, dimension), np.float32)
    special = [
        good * np.nan, good * np.inf, np.ones((2, dimension + 1)), np.ones((0, dimension)), np.ones(dimension),
        np.ones((1, 1, dimension)), np.array([["a"] * dimension]), np.ones((1, dimension), np.complex64),
        [[1.0] * dimension, [1.0]], None, "text", np.full((1, dimension), 1e39),
    ]
    item = st.one_of(st.sampled_from(special), garbage(), st.just(good))
    return st.one_of(st.lists(item, min_size=1, max_size=3), garbage(), st.just(np.ones((2, dimension))))


@ci_settings(max_examples=120)
@given(sets=odd_sets(4))
def test_fde_on_malformed_input_is_an_input_error(sets: Any) -> None:
    encoder = FixedDimensionalEncoder(FDEConfig(dimension=4, num_repetitions=2, num_simhash_projections=2))
    result = outcome(lambda: encoder(sets))
    event("encoded" if result.ok else "refused")
    if result.ok:
        assert result.value.shape == (len(sets), encoder.output_dimension) and np.isfinite(result.value).all()
    else:
        assert isinstance(result.error, InvalidInputError), result.error


FIELDS: dict[str, st.SearchStrategy] = {
    "dimension": st.integers(-1, 16),
    "num_repetitions": st.one_of(st.integers(-1, 8), st.sampled_from([10**6, 2**40])),
    "num_simhash_projections": st.one_of(st.integers(-1, 6), st.sampled_from([24, 30, 31])),
    "seed": st.integers(-(2**40), 2**40),
    "encoding_type": st.sampled_from(["DEFAULT_SUM", "AVERAGE", "MAX"]),
    "projection_type": st.sampled_from(["DEFAULT_IDENTITY", "AMS_SKETCH", "GAUSSIAN"]),
    "projection_dimension": st.one_of(st.none(), st.integers(-1, 8), st.sampled_from([2**31, 10**12])),
    "fill_empty_partitions": st.booleans(),
    "final_projection_dimension": st.one_of(st.none(), st.integers(-1, 64), st.sampled_from([2**40])),
    "random_source": st.sampled_from(["numpy", "reference", "torch"]),
}


@st.composite
def config_fields(draw) -> dict[str, Any]:
    fields = {"dimension": 4}
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=5)):
        fields[key] = draw(st.one_of(FIELDS[key], FIELDS[key], FIELDS[key], garbage()))
    return fields


@ci_settings(max_examples=150)
@given(fields=config_fields())
def test_fde_takes_any_config_values(fields: dict[str, Any]) -> None:
    made = outcome(lambda: FixedDimensionalEncoder(FDEConfig(**fields)), seconds=20)
    event("built" if made.ok else f"refused: {type(made.error).__name__}")
    if not made.ok:
        assert isinstance(made.error, (ConfigError, ResourceError)), made.error
        return
    encoder = made.value
    points = [np.eye(encoder.config.dimension, dtype=np.float32)[:2] + 0.1]
    out = outcome(lambda: encoder(points), seconds=20)
    if not out.ok:
        assert isinstance(out.error, ResourceError)
        return
    assert out.value.shape == (1, encoder.output_dimension) and np.isfinite(out.value).all()


@ci_settings(max_examples=25)
@given(
    size=st.sampled_from([
        {"num_simhash_projections": 30},
        {"num_repetitions": 10**6},
        {"num_repetitions": 2**16, "num_simhash_projections": 20},
        {"projection_type": "AMS_SKETCH", "projection_dimension": 2**40},
        {"final_projection_dimension": 2**40, "num_simhash_projections": 28},
        {"dimension": 2**40},
    ])
)
def test_huge_configs_are_refused_up_front_with_an_estimate(size: dict[str, Any]) -> None:
    fields = {"dimension": 384, "num_repetitions": 20, "num_simhash_projections": 5, **size}
    result = outcome(lambda: FixedDimensionalEncoder(FDEConfig(**fields)), seconds=5)
    assert not result.ok, f"built an encoder for {size}"
    assert isinstance(result.error, (ResourceError, ConfigError))
    if isinstance(result.error, ResourceError):
        assert any(unit in str(result.error) for unit in ("GiB", "TiB", "PiB")), result.error


def test_batches_are_checked_like_lists() -> None:
    encoder = FixedDimensionalEncoder(FDEConfig(dimension=3, num_simhash_projections=2))
    batch = MultiVectorBatch.from_sets([np.ones((2, 3)), np.ones((1, 3))])
    assert encoder(batch).shape == (2, encoder.output_dimension)
    assert math.isclose(float(encoder([np.ones((1, 3))])[0].sum()), 3.0, rel_tol=1e-6)


class FakeTokens:
    """A token encoder without a model: each text becomes len(words) unit vectors of dimension 8."""

    dimension = 8

    def config(self) -> dict[str, Any]:
        return {"encoder": "fake-tokens"}

    def _encode(self, texts: Any) -> MultiVectorBatch:
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) and t.split() for t in texts):
            raise InvalidInputError("fake tokens: texts must be non-empty strings")
        sets = [np.eye(8, dtype=np.float32)[[hash(w) % 8 for w in t.split()]] for t in texts]
        return MultiVectorBatch.from_sets(sets)

    encode_queries = encode_documents = _encode


SETUP = {key: FIELDS[key] for key in ("num_repetitions", "num_simhash_projections", "projection_dimension",
                                      "final_projection_dimension", "seed", "random_source", "fill_empty_partitions")}


@ci_settings(max_examples=80)
@given(data=st.data())
def test_muvera_encoder_takes_any_fde_options(data) -> None:
    from recplug import load_plugin_manager

    keys = data.draw(st.lists(st.sampled_from(sorted(SETUP)), unique=True, max_size=4), label="keys")
    options = {k: data.draw(st.one_of(SETUP[k], SETUP[k], SETUP[k], garbage()), label=k) for k in keys}
    made = outcome(lambda: load_plugin_manager().create("retrieval_encoder", "muvera", tokens=FakeTokens(), **options))
    event("built" if made.ok else f"refused: {type(made.error).__name__}")
    if not made.ok:
        assert isinstance(made.error, (ConfigError, ResourceError)), made.error
        return
    encoder = made.value
    queries = encoder.encode_queries(["a b c", "d"])
    documents = encoder.encode_documents(["a b", "c d e"])
    assert queries.shape == documents.shape == (2, encoder.dimension)
    assert np.isfinite(queries).all() and np.isfinite(documents).all()
