"""Reduced-precision GEMMs on this CPU against float32, same process (why ``recplug_eval.cpu_features`` exists).

Measures, median of a few repeats each:
  (a) one GEMM of the MUVERA first pass's shape (300 candidates x ~240 tokens = 72,000 x 384 times 384 x 24):
      float32, bfloat16, int8 (``torch._int_mm``), and int8 decoded to float32 then a float32 GEMM (the
      fallback the screens use without VNNI / AMX);
  (b) an all-MiniLM-L6-v2 forward of 4 x 512 tokens, float32 against bfloat16 autocast (the flops-idf encoder's
      ``bf16`` option), one thread.

Command (repo root): ``nice -n 10 .venv/bin/python tools/bench/cpu_kernels/bench.py``; writes results.json and
results.md here (or in ``--out``). ``--quick --out DIR``: the same cases at tiny sizes (a 2,000-row GEMM, one
64-token forward), a smoke run for ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from pathlib import Path

import torch
from recplug_eval import cpu_model, markdown_table, native_bf16, native_int8

HERE = Path(__file__).resolve().parent


def median_s(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after one warm-up call (kernel selection, allocation)."""
    fn()
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeats))


def gemms(threads: int = 2, rows: int = 72_000) -> list[dict]:
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    a8 = torch.randint(-127, 128, (rows, 384), dtype=torch.int8, generator=g)
    q8 = torch.randint(-127, 128, (384, 24), dtype=torch.int8, generator=g)
    a32, q32 = a8.float(), q8.float()
    abf, qbf = a32.bfloat16(), q32.bfloat16()
    staging = torch.empty_like(a32)
    cases = {
        "float32": (lambda: a32 @ q32, 5),
        "bfloat16": (lambda: abf @ qbf, 2),
        "int8 (torch._int_mm)": (lambda: torch._int_mm(a8, q8), 2),
        "int8 decoded to float32 + float32 GEMM": (lambda: staging.copy_(a8) @ q32, 5),
    }
    base = median_s(*cases["float32"])
    rows = []
    for name, (fn, repeats) in cases.items():
        seconds = base if name == "float32" else median_s(fn, repeats)
        rows.append({"case": name, "ms": seconds * 1000, "vs_float32": seconds / base})
    return rows


def minilm_forward(batch: int = 4, tokens: int = 512) -> list[dict]:
    from recplug_flops_idf.backbone import load_backbone

    torch.set_num_threads(1)
    model = load_backbone()
    ids = torch.randint(1000, 20000, (batch, tokens), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    rows = []
    for bf16 in (False, True):
        def forward(bf16: bool = bf16) -> None:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(input_ids=ids, attention_mask=mask)

        rows.append({"case": "bfloat16 autocast" if bf16 else "float32", "ms": median_s(forward, 3) * 1000})
    for row in rows:
        row["vs_float32"] = row["ms"] / rows[0]["ms"]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder of results.json / results.md")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, not a measurement)")
    args = parser.parse_args(argv)
    rows, batch, tokens = (2_000, 1, 64) if args.quick else (72_000, 4, 512)
    gemm_key, minilm_key = f"gemm_{rows}x384_by_384x24_2_threads", f"minilm_forward_{batch}x{tokens}_1_thread"
    results = {
        "cpu": cpu_model(),
        "native_bf16": native_bf16(),
        "native_int8": native_int8(),
        "torch": torch.__version__,
        gemm_key: gemms(rows=rows),
        minilm_key: minilm_forward(batch, tokens),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    def table(rows: list[dict]) -> str:
        return markdown_table(["case", "ms", "vs float32"], [[r["case"], f"{r['ms']:.1f}", f"{r['vs_float32']:.2f}x"] for r in rows])

    md = f"""# Reduced-precision GEMMs against float32 on this CPU

Command (repo root): `nice -n 10 .venv/bin/python tools/bench/cpu_kernels/bench.py` (about a minute).

CPU: {results["cpu"]}; native bfloat16 GEMMs: {results["native_bf16"]}, native int8 GEMMs: {results["native_int8"]}
(`recplug_eval.cpu_features`); torch {results["torch"]}. Median of repeats, same process, shared machine.

## (a) One GEMM of the MUVERA first pass's shape ({rows:,} x 384 by 384 x 24), 2 threads
{table(results[gemm_key])}

## (b) all-MiniLM-L6-v2 forward, {batch} x {tokens} tokens, 1 thread
{table(results[minilm_key])}

Where the CPU lacks the native instructions, recplug's MUVERA screens decode int8 / bfloat16 blocks to float32
(row 4 of (a)) and the flops-idf encoder defaults to float32.
"""
    (args.out / "results.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
