"""Which reduced-precision matrix products this CPU runs natively, from the flags Linux lists.

torch's bfloat16 and int8 GEMMs are fast only with the instructions for them (AVX512-BF16 or AMX-BF16;
AVX512-VNNI, AVX-VNNI or AMX-INT8). On a CPU without them (e.g. AVX2 only) the same products run through
slow fallbacks: on a 2-core AMD EPYC with AVX2, a bfloat16 GEMM measured 19x and an int8 one 12x slower
than the float32 GEMM of the same shape, and a bfloat16-autocast MiniLM forward 6x slower than a float32
one (``tools/bench/cpu_kernels/results.md``). Code with a reduced-precision fast path asks here and keeps float32 otherwise. Other architectures
report no x86 flags, so they take the float32 path.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

#: x86 flags with which torch's bfloat16 GEMMs (and bfloat16 autocast) are fast
BF16_GEMM_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: x86 flags with which torch's int8 GEMMs (``torch._int_mm``) are fast
INT8_GEMM_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's ``key: value`` lines of ``/proc/cpuinfo``; empty where there is no such file."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the end of the first processor's block
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (``/proc/cpuinfo``); empty where there is no such file."""
    return frozenset(_cpuinfo().get("flags", "").split())


def native_bf16() -> bool:
    """True where bfloat16 GEMMs are fast on this CPU (one of :data:`BF16_GEMM_FLAGS`)."""
    return bool(cpu_flags() & BF16_GEMM_FLAGS)


def native_int8() -> bool:
    """True where int8 GEMMs are fast on this CPU (one of :data:`INT8_GEMM_FLAGS`)."""
    return bool(cpu_flags() & INT8_GEMM_FLAGS)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the machine type where it is not listed."""
    return _cpuinfo().get("model name") or platform.machine()
