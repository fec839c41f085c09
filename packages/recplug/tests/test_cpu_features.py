"""CPU feature detection for the reduced-precision fast paths (recplug.cpu_features)."""

from __future__ import annotations

import pytest
from recplug import cpu_features


def test_real_flags_and_model_are_read() -> None:
    flags = cpu_features.cpu_flags()
    assert isinstance(flags, frozenset) and all(isinstance(f, str) for f in flags)
    assert cpu_features.native_bf16() is bool(flags & cpu_features.BF16_GEMM_FLAGS)
    assert cpu_features.native_int8() is bool(flags & cpu_features.INT8_GEMM_FLAGS)
    assert cpu_features.cpu_model()


@pytest.mark.parametrize(
    ("flags", "bf16", "int8"),
    [
        ({"avx2", "fma", "avx512f"}, False, False),  # AVX2 / plain AVX-512: float32 paths
        ({"avx512_vnni"}, False, True),
        ({"avx_vnni"}, False, True),
        ({"avx512_bf16", "avx512_vnni"}, True, True),
        ({"amx_bf16", "amx_int8"}, True, True),
        (set(), False, False),  # no /proc/cpuinfo (macOS, Windows) or another architecture
    ],
)
def test_native_paths_follow_the_flags(monkeypatch: pytest.MonkeyPatch, flags: set, bf16: bool, int8: bool) -> None:
    monkeypatch.setattr(cpu_features, "cpu_flags", lambda: frozenset(flags))
    assert cpu_features.native_bf16() is bf16
    assert cpu_features.native_int8() is int8
