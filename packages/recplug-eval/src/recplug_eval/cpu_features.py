"""Which reduced-precision matrix products this CPU runs natively, as torch reports it.

torch's bfloat16 and int8 GEMMs are fast only with the instructions for them (AVX512-BF16 or AMX-BF16;
AVX512-VNNI, AVX-VNNI or AMX-INT8). On a CPU without them (e.g. AVX2 only) the same products run through
slow fallbacks: on a 2-core AMD EPYC with AVX2, a bfloat16 GEMM measured 19x and an int8 one 12x slower
than the float32 GEMM of the same shape, and a bfloat16-autocast MiniLM forward 6x slower than a float32
one (``tools/bench/cpu_kernels/results.md``). Code with a reduced-precision fast path asks here and keeps
float32 otherwise.

The flags come from ``torch.cpu.get_capabilities()`` (torch's bundled cpuinfo: CPUID on x86, on every
operating system; ``amx_bf16``, ``avx512_vnni``... by the names Linux uses). The shorter
``torch.backends.cpu.get_cpu_capability()`` cannot answer this: it names only the kernel level torch
dispatches to (``AVX2``, ``AVX512``), which says nothing of BF16, VNNI or AMX. Fallback: a torch too old to
have ``get_capabilities`` reports no flags, so every caller takes the float32 path (correct, perhaps
slower). Other architectures report no x86 flags and take the float32 path too.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from typing import Any

#: x86 flags with which torch's bfloat16 GEMMs (and bfloat16 autocast) are fast
BF16_GEMM_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: x86 flags with which torch's int8 GEMMs (``torch._int_mm``) are fast
INT8_GEMM_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@functools.cache
def _capabilities() -> Mapping[str, Any]:
    """torch's view of this CPU (``torch.cpu.get_capabilities()``); empty where this torch has no such call."""
    import torch

    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    return get_capabilities() if get_capabilities is not None else {}


def cpu_flags() -> frozenset[str]:
    """The CPU features torch detected (``avx2``, ``avx512_bf16``, ``amx_int8``...); empty where torch cannot say."""
    return frozenset(name for name, value in _capabilities().items() if value is True)


def native_bf16() -> bool:
    """True where bfloat16 GEMMs are fast on this CPU (one of :data:`BF16_GEMM_FLAGS`)."""
    return bool(cpu_flags() & BF16_GEMM_FLAGS)


def native_int8() -> bool:
    """True where int8 GEMMs are fast on this CPU (one of :data:`INT8_GEMM_FLAGS`)."""
    return bool(cpu_flags() & INT8_GEMM_FLAGS)


def cpu_model() -> str:
    """The CPU's name as torch reports it, or the machine type where it does not."""
    return str(_capabilities().get("cpu_name") or platform.machine())
