"""The C++ reference's random streams, reproduced in NumPy: std::mt19937 with libstdc++'s distributions.

The reference (google/graph-mining ``fixed_dimensional_encoding.cc``) draws, per repetition ``r``:

* SimHash: ``std::mt19937 gen(seed + r)``; ``std::normal_distribution<float>(0, 1)`` fills a ``D x k_sim``
  column-major Eigen matrix (so the stream fills column 0 first).
* AMS sketch: a fresh ``std::mt19937 gen(seed + r)``; for each input coordinate ``i``:
  ``uniform_int_distribution<size_t>(0, d_proj - 1)`` then ``bernoulli_distribution(0.5)``; the entry is
  ``2 * bit - 1`` (unscaled).
* Final count sketch: ``std::mt19937 gen(seed)``; for each FDE coordinate: ``uniform_int_distribution<int32_t>
  (0, final - 1)`` then ``bernoulli_distribution(0.5)``.

How libstdc++ implements the distributions (GCC >= 11, ``bits/random.tcc``, ``bits/uniform_int_dist.h``):

* ``generate_canonical<RealT, digits>``: ``m = ceil(digits / 32)`` words ``w_j``; ``sum = sum_j RealT(w_j) *
  2**(32 j)`` in RealT arithmetic; ``ret = sum / 2**(32 m)``; ``ret >= 1`` becomes ``nextafter(1, 0)``.
  float: one word; double: two words.
* ``normal_distribution<float>``: Marsaglia's polar method on ``x = 2u - 1, y = 2v - 1`` (``2.0f * u`` in
  float, ``- 1.0`` in double, stored as float), ``r2 = x*x + y*y`` (float), rejected while ``r2 > 1`` or
  ``r2 == 0``; ``mult = sqrtf(-2 * logf(r2) / r2)``; it returns ``y * mult`` and caches ``x * mult`` for
  the next call. ``logf`` is glibc's (:func:`glibc_logf` reproduces it; it is not correctly rounded, and
  NumPy's float32 log differs from it in the last bit now and then).
* ``uniform_int_distribution`` with a 32-bit generator: Lemire's nearly divisionless method,
  ``product = w * range`` (64 bit); reject while ``low32(product) < (2**32 - range) % range``; result
  ``product >> 32``.
* ``bernoulli_distribution(p)``: ``generate_canonical<double>() < p`` (two words).

std::mt19937 seeded with an integer is NumPy's legacy ``RandomState(seed)`` (both use ``init_genrand``);
:func:`mt19937_words` is checked against the C++ standard's value for the 10000th output.
"""

from __future__ import annotations

import numpy as np

_TWO32 = np.float64(2.0**32)
_U32 = np.uint64(0xFFFFFFFF)

# glibc's logf (sysdeps/ieee754/flt-32/e_logf.c, e_logf_data.c; ARM optimized-routines): 16-entry
# table of (1/c, log c), ln 2 and a degree-3 polynomial for log1p(r).
_LOGF_INVC = np.array(
    [
        float.fromhex(h)
        for h in (
            "0x1.661ec79f8f3bep+0",
            "0x1.571ed4aaf883dp+0",
            "0x1.49539f0f010bp+0",
            "0x1.3c995b0b80385p+0",
            "0x1.30d190c8864a5p+0",
            "0x1.25e227b0b8eap+0",
            "0x1.1bb4a4a1a343fp+0",
            "0x1.12358f08ae5bap+0",
            "0x1.0953f419900a7p+0",
            "0x1p+0",
            "0x1.e608cfd9a47acp-1",
            "0x1.ca4b31f026aap-1",
            "0x1.b2036576afce6p-1",
            "0x1.9c2d163a1aa2dp-1",
            "0x1.886e6037841edp-1",
            "0x1.767dcf5534862p-1",
        )
    ]
)
_LOGF_LOGC = np.array(
    [
        float.fromhex(h)
        for h in (
            "-0x1.57bf7808caadep-2",
            "-0x1.2bef0a7c06ddbp-2",
            "-0x1.01eae7f513a67p-2",
            "-0x1.b31d8a68224e9p-3",
            "-0x1.6574f0ac07758p-3",
            "-0x1.1aa2bc79c81p-3",
            "-0x1.a4e76ce8c0e5ep-4",
            "-0x1.1973c5a611cccp-4",
            "-0x1.252f438e10c1ep-5",
            "0x0p+0",
            "0x1.aa5aa5df25984p-5",
            "0x1.c5e53aa362eb4p-4",
            "0x1.526e57720db08p-3",
            "0x1.bc2860d22477p-3",
            "0x1.1058bc8a07ee1p-2",
            "0x1.4043057b6ee09p-2",
        )
    ]
)
_LOGF_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOGF_POLY = (
    float.fromhex("-0x1.00ea348b88334p-2"),
    float.fromhex("0x1.5575b0be00b6ap-2"),
    float.fromhex("-0x1.ffffef20a4123p-2"),
)


def mt19937_words(seed: int, count: int) -> np.ndarray:
    """The first ``count`` outputs of ``std::mt19937(seed)`` (seed taken mod 2**32) as uint64."""
    state = np.random.RandomState(int(seed) % 2**32)
    return state.randint(0, 2**32, size=int(count), dtype=np.uint32).astype(np.uint64)


class WordStream:
    """Sequential reader of one ``std::mt19937(seed)`` stream, drawn in blocks."""

    def __init__(self, seed: int) -> None:
        self._state = np.random.RandomState(int(seed) % 2**32)

    def take(self, count: int) -> np.ndarray:
        """The next ``count`` 32-bit words (uint64)."""
        return self._state.randint(0, 2**32, size=int(count), dtype=np.uint32).astype(np.uint64)


def canonical_float(words: np.ndarray) -> np.ndarray:
    """``generate_canonical<float, 24>`` of one word each: ``float(w) / 2**32``, capped below 1."""
    ret = words.astype(np.float32) / np.float32(2.0**32)
    return np.where(ret >= np.float32(1.0), np.nextafter(np.float32(1.0), np.float32(0.0)), ret).astype(np.float32)


def canonical_double(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``generate_canonical<double, 53>`` of two words each: ``(w0 + w1 * 2**32) / 2**64``, capped below 1."""
    ret = (first.astype(np.float64) + second.astype(np.float64) * _TWO32) / (_TWO32 * _TWO32)
    return np.where(ret >= 1.0, np.nextafter(1.0, 0.0), ret)


def glibc_logf(x: np.ndarray) -> np.ndarray:
    """glibc's ``logf`` for positive finite float32 ``x`` (the algorithm and constants of glibc >= 2.28)."""
    x = np.asarray(x, dtype=np.float32)
    ix = x.view(np.uint32).astype(np.int64)
    subnormal = ix < 0x00800000
    if subnormal.any():
        ix = np.where(subnormal, (x * np.float32(2.0**23)).view(np.uint32).astype(np.int64) - (23 << 23), ix)
    tmp = (ix - 0x3F330000) & 0xFFFFFFFF
    i = (tmp >> 19) % 16
    k = np.where(tmp >= 2**31, tmp - 2**32, tmp) >> 23
    iz = (ix - (tmp & 0xFF800000)) & 0xFFFFFFFF
    z = iz.astype(np.uint32).view(np.float32).astype(np.float64)
    r = z * _LOGF_INVC[i] - 1.0
    y0 = _LOGF_LOGC[i] + k.astype(np.float64) * _LOGF_LN2
    r2 = r * r
    y = _LOGF_POLY[1] * r + _LOGF_POLY[2]
    y = _LOGF_POLY[0] * r2 + y
    y = y * r2 + (y0 + r)
    out = y.astype(np.float32)
    return np.where(ix == 0x3F800000, np.float32(0.0), out).astype(np.float32)


def normal_floats(seed: int, count: int) -> np.ndarray:
    """``count`` draws of ``std::normal_distribution<float>(0, 1)`` from ``std::mt19937(seed)`` (float32)."""
    stream = WordStream(seed)
    chunks: list[np.ndarray] = []
    have = 0
    while have < count:
        pairs = max(16, int((count - have) * 0.64) + 16)  # acceptance is pi/4; 2 normals per accepted pair
        u = canonical_float(stream.take(2 * pairs))
        x = (2.0 * u[0::2].astype(np.float64) - 1.0).astype(np.float32)  # 2.0f*u is exact in float
        y = (2.0 * u[1::2].astype(np.float64) - 1.0).astype(np.float32)
        r2 = (x * x + y * y).astype(np.float32)
        ok = (r2 <= np.float32(1.0)) & (r2 != np.float32(0.0))
        x, y, r2 = x[ok], y[ok], r2[ok]
        mult = np.sqrt((np.float32(-2.0) * glibc_logf(r2)) / r2).astype(np.float32)
        chunks.append(np.stack([y * mult, x * mult], axis=1).ravel())
        have += chunks[-1].shape[0]
    return np.concatenate(chunks)[:count].astype(np.float32)


def uniform_ints_with_signs(seed: int, count: int, upper: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` pairs (``uniform_int_distribution(0, upper - 1)``, ``2 * bernoulli(0.5) - 1``) drawn in
    that order from ``std::mt19937(seed)``: (indices int64, signs float32)."""
    if not 0 < upper < 2**32:
        raise ValueError(f"uniform range must be in [1, 2**32), got {upper}")
    span = np.uint64(upper)
    threshold = (2**32 - upper) % upper
    stream = WordStream(seed)
    index = np.empty(count, np.int64)
    bits = np.empty(count, bool)
    done = 0
    pending = np.zeros(0, np.uint64)
    while done < count:
        need = 3 * (count - done)
        if pending.shape[0] < need:
            pending = np.concatenate([pending, stream.take(need - pending.shape[0])])
        words = pending[:need]
        product = words[0::3] * span
        rejected = np.flatnonzero((product & _U32) < np.uint64(threshold)) if threshold else np.zeros(0, np.int64)
        good = count - done if rejected.shape[0] == 0 else int(rejected[0])
        index[done : done + good] = (product[:good] >> np.uint64(32)).astype(np.int64)
        bits[done : done + good] = canonical_double(words[1 : 3 * good : 3], words[2 : 3 * good : 3]) < 0.5
        pending = pending[3 * good :]
        done += good
        if done == count:
            break
        # Element `done` is rejected: redraw word by word (rare: probability < upper / 2**32).
        position = 0
        while True:
            if pending.shape[0] < position + 3:
                pending = np.concatenate([pending, stream.take(position + 3 - pending.shape[0] + 64)])
            product_one = pending[position] * span
            if (product_one & _U32) >= np.uint64(threshold):
                break
            position += 1
        index[done] = int(product_one >> np.uint64(32))
        bits[done] = bool(
            canonical_double(pending[position + 1 : position + 2], pending[position + 2 : position + 3])[0] < 0.5
        )
        pending = pending[position + 3 :]
        done += 1
    return index, np.where(bits, np.float32(1.0), np.float32(-1.0)).astype(np.float32)


def simhash_matrix(seed: int, dimension: int, num_projections: int) -> np.ndarray:
    """The reference's ``SimHashMatrixFromSeed``: ``D x k_sim`` float32 Gaussians, column-major fill."""
    values = normal_floats(seed, dimension * num_projections)
    return np.ascontiguousarray(values.reshape(num_projections, dimension).T)


def ams_matrix(seed: int, dimension: int, projection_dimension: int) -> np.ndarray:
    """The reference's ``AMSProjectionMatrixFromSeed``: ``D x d_proj`` with one unscaled +-1 per row."""
    index, sign = uniform_ints_with_signs(seed, dimension, projection_dimension)
    out = np.zeros((dimension, projection_dimension), np.float32)
    out[np.arange(dimension), index] = sign
    return out


def count_sketch(seed: int, input_dimension: int, final_dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference's ``ApplyCountSketchToVector`` draws: (target index per input coordinate, sign)."""
    return uniform_ints_with_signs(seed, input_dimension, final_dimension)
