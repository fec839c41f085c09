"""FDEs and random matrices against the outputs of Google's C++ reference (../shared/data/muvera-golden)."""

from __future__ import annotations

import numpy as np
import pytest
from recplug_muvera import reference_random
from recplug_muvera.config import FDEConfig
from recplug_muvera.fde import fde
from recplug_muvera.matrices import draw_matrices
from recplug_muvera.testing import golden_cases, literal_reference_fde, load_case

CASES = golden_cases()
IDS = [case["file"] for case in CASES]


def assert_float32_close(ours: np.ndarray, reference: np.ndarray) -> None:
    """Equal up to float32 rounding of sums of a few dozen terms."""
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)


def test_golden_cases_cover_every_option(golden_dir) -> None:
    configs = [case["config"] for case in CASES]
    assert len(CASES) == 10
    assert {c["encoding_type"] for c in configs} == {"DEFAULT_SUM", "AVERAGE"}
    assert {c["projection_type"] for c in configs} == {"DEFAULT_IDENTITY", "AMS_SKETCH"}
    assert any(c["fill_empty_partitions"] for c in configs)
    assert any(c["final_projection_dimension"] for c in configs)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_injected_matrices_reproduce_reference_fde(case: dict) -> None:
    config, arrays, matrices = load_case(case)
    ours = fde([arrays["points"]], config, matrices)[0]
    assert ours.shape == (case["fde_dim"],)
    assert_float32_close(ours, arrays["fde"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_seed_alone_reproduces_reference_fde(case: dict) -> None:
    """random_source="reference": std::mt19937 + libstdc++ distributions + glibc logf, from the seed."""
    config = FDEConfig(**case["config"], random_source="reference")
    _, arrays, _ = load_case(case)
    assert_float32_close(fde([arrays["points"]], config)[0], arrays["fde"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_random_matrices_are_bit_exact(case: dict) -> None:
    _, arrays, _ = load_case(case)
    drawn = draw_matrices(FDEConfig(**case["config"], random_source="reference"))
    if "simhash" in arrays:
        np.testing.assert_array_equal(drawn.simhash, arrays["simhash"])
    if "ams" in arrays:
        np.testing.assert_array_equal(drawn.ams, arrays["ams"])
    if "count_sketch_index" in arrays:
        np.testing.assert_array_equal(drawn.count_sketch_index, arrays["count_sketch_index"])
        np.testing.assert_array_equal(drawn.count_sketch_sign, arrays["count_sketch_sign"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_literal_oracle_agrees_with_golden(case: dict) -> None:
    """The slow oracle used by the property tests is itself right."""
    config, arrays, matrices = load_case(case)
    assert_float32_close(literal_reference_fde(arrays["points"], config, matrices), arrays["fde"])


def test_numpy_source_differs_from_reference_source() -> None:
    case = CASES[5]
    config, arrays, _ = load_case(case)
    fast = fde([arrays["points"]], config)[0]
    assert not np.allclose(fast, arrays["fde"], atol=1e-3)


def test_mt19937_matches_the_cpp_standard() -> None:
    """[rand.predef]: the 10000th output of a default-constructed std::mt19937 (seed 5489) is 4123659995."""
    assert int(reference_random.mt19937_words(5489, 10000)[-1]) == 4123659995


def test_glibc_logf_is_within_one_ulp_and_exact_on_powers_of_two() -> None:
    x = np.random.default_rng(0).random(20000).astype(np.float32) + np.float32(1e-7)
    ours = reference_random.glibc_logf(x)
    exact = np.log(x.astype(np.float64)).astype(np.float32)
    ulps = np.abs(ours.view(np.int32).astype(np.int64) - exact.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1
    powers = np.float32(2.0) ** np.arange(-149, 0, dtype=np.float32)
    np.testing.assert_array_equal(
        reference_random.glibc_logf(powers), (np.arange(-149, 0) * np.log(2.0)).astype(np.float32)
    )
    assert reference_random.glibc_logf(np.array([1.0], np.float32))[0] == 0.0


@pytest.mark.parametrize("upper", [3, 1000, 2**31 + 12345])
def test_uniform_int_rejection_matches_a_scalar_lemire(upper: int) -> None:
    """libstdc++'s Lemire downscaling with rejection, word by word, including the bernoulli draws."""
    count = 2000
    words = reference_random.mt19937_words(7, 10 * count)
    threshold = (2**32 - upper) % upper
    expected, position = [], 0
    for _ in range(count):
        while True:
            product = int(words[position]) * upper
            position += 1
            if product & 0xFFFFFFFF >= threshold:
                break
        bit = (float(words[position]) + float(words[position + 1]) * 2.0**32) / 2.0**64 < 0.5
        position += 2
        expected.append((product >> 32, 1.0 if bit else -1.0))
    index, sign = reference_random.uniform_ints_with_signs(7, count, upper)
    assert list(zip(index.tolist(), sign.tolist(), strict=True)) == expected
