"""CPU feature detection for the reduced-precision fast paths (recplug_eval.cpu_features)."""

from __future__ import annotations

import platform

import pytest
from recplug_eval import cpu_features


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="numpy's x86 feature names")
def test_flags_agree_with_numpys_own_cpu_detection() -> None:
    """The flags torch reports against numpy's runtime detection (its own CPUID probe), an independent
    source: numpy does not report AMX, so bf16 / int8 support must be at least what numpy sees."""
    import numpy as np

    numpy_sees = np._core._multiarray_umath.__cpu_features__
    flags = cpu_features.cpu_flags()
    assert ("avx2" in flags) is numpy_sees["AVX2"]
    assert ("avx512_f" in flags) is numpy_sees["AVX512F"]
    assert cpu_features.native_bf16() or not numpy_sees["AVX512BF16"]
    assert cpu_features.native_int8() or not numpy_sees["AVX512VNNI"]
    assert cpu_features.cpu_model()


@pytest.mark.parametrize(
    ("flags", "bf16", "int8"),
    [
        ({"avx2", "fma3", "avx512_f"}, False, False),  # AVX2 / plain AVX-512: float32 paths
        ({"avx512_vnni"}, False, True),
        ({"avx_vnni"}, False, True),
        ({"avx512_bf16", "avx512_vnni"}, True, True),
        ({"amx_bf16", "amx_int8"}, True, True),
        (set(), False, False),  # a torch without get_capabilities, or another architecture
    ],
)
def test_native_paths_follow_the_flags(monkeypatch: pytest.MonkeyPatch, flags: set, bf16: bool, int8: bool) -> None:
    monkeypatch.setattr(cpu_features, "cpu_flags", lambda: frozenset(flags))
    assert cpu_features.native_bf16() is bf16
    assert cpu_features.native_int8() is int8


def test_flags_are_torchs_own_detection() -> None:
    import torch

    if not hasattr(torch.cpu, "get_capabilities"):
        pytest.skip("this torch has no torch.cpu.get_capabilities (the float32 fallback)")
    capabilities = torch.cpu.get_capabilities()
    assert cpu_features.cpu_flags() == {name for name, value in capabilities.items() if value is True}
    assert cpu_features.cpu_model() == (capabilities.get("cpu_name") or platform.machine())
