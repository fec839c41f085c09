"""Pairwise mutual information of categorical (scalar and list) item features."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from recplug.errors import ConfigError, CorruptFileError, InvalidInputError
from recplug_ssl.mutual_information import MutualInformation, mutual_information


def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x": [0, 0, 1, 1, 0, 0, 1, 1],
            "same": ["p", "p", "q", "q", "p", "p", "q", "q"],  # a relabelling of x
            "indep": [0, 1, 0, 1, 0, 1, 0, 1],  # independent of x
            "genres": [["A", "B"], ["B", "A"], ["C"], ["C"], ["A", "B"], ["B", "A"], ["C"], ["C"]],
        }
    )


def test_known_values() -> None:
    mi = mutual_information(frame(), ["x", "same", "indep", "genres"])
    m = mi.matrix
    ln2 = math.log(2)
    assert m[0, 0] == pytest.approx(ln2)  # entropy on the diagonal
    assert m[0, 1] == pytest.approx(ln2)  # identical up to labels
    assert m[0, 2] == pytest.approx(0.0, abs=1e-12)  # independent
    assert m[0, 3] == pytest.approx(ln2)  # a list is its set: {A,B} == {B,A}
    np.testing.assert_allclose(m, m.T)


def test_weights_count_rows() -> None:
    base = frame()
    doubled = pl.concat([base, base.head(2)])
    weights = np.array([2, 2, 1, 1, 1, 1, 1, 1], dtype=float)
    np.testing.assert_allclose(
        mutual_information(base, ["x", "indep"], weights).matrix, mutual_information(doubled, ["x", "indep"]).matrix
    )


def test_matches_scipy_style_reference_on_random_data() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 500)
    b = (a + rng.integers(0, 2, 500)) % 5
    mi = mutual_information(pl.DataFrame({"a": a, "b": b}), ["a", "b"]).matrix[0, 1]
    joint = np.zeros((4, 5))
    np.add.at(joint, (a, b), 1)
    p = joint / joint.sum()
    px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    assert mi == pytest.approx(float((p[nz] * np.log(p[nz] / (px @ py)[nz])).sum()))


def test_empty_and_constant_features_are_input_errors() -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        mutual_information(frame().head(0), ["x", "indep"])
    const = frame().with_columns(pl.lit(3).alias("c"))
    with pytest.raises(InvalidInputError, match=r"'c' is constant"):
        mutual_information(const, ["x", "c"])
    no_genres = frame().with_columns(pl.Series("genres", [[]] * 8, dtype=pl.List(pl.Utf8)))
    with pytest.raises(InvalidInputError, match=r"'genres' is empty"):
        mutual_information(no_genres, ["x", "genres"])
    nulls = frame().with_columns(pl.Series("n", [None] * 8, dtype=pl.Int64))
    with pytest.raises(InvalidInputError, match=r"'n' is empty"):
        mutual_information(nulls, ["x", "n"])
    with pytest.raises(InvalidInputError, match="sum to 0"):
        mutual_information(frame(), ["x", "indep"], np.zeros(8))
    with pytest.raises(ConfigError, match="'nope' is not a column"):
        mutual_information(frame(), ["x", "nope"])


def test_save_load_roundtrip_and_corrupt_file(tmp_path) -> None:
    mi = mutual_information(frame(), ["x", "indep", "genres"])
    path = mi.save(tmp_path / "mi.npz")
    back = MutualInformation.load(path)
    assert back.features == mi.features
    np.testing.assert_array_equal(back.matrix, mi.matrix)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CorruptFileError):
        MutualInformation.load(tmp_path / "bad.npz")
