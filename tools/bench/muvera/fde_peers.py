"""FDE encoding against the other MUVERA implementations on PyPI, side by side in one run, and which of them
reproduce Google's C++ reference (issue 34).

Peers, each in the peers' own virtual environment (``requirements-fde-peers.txt``: numpy-only packages, no torch;
made by this script when missing) and driven from here through ``fde_peer_worker.py``:

- ``muvera-python`` (Rust kernels), ``muvfde`` (C++ bindings of the reference's code; ``pymuvera``, named in the
  issue, is not on the package index this machine reaches, and muvfde is the port of Google's code that is), and
  FastEmbed's ``Muvera`` (``fastembed.postprocess``, numpy).

What is measured:

- throughput on the same token sets: all-MiniLM-L6-v2 token embeddings of SciFact documents (``--docs`` of them,
  corpus order) and the 300 test queries, from the shared MiniLM pass (``tools/bench/muvera/scifact_tokens``);
  the FDE setting of the benchmark's recommendation, (R, k_sim, d_proj) = (20, 5, 16) with AMS projection,
  documents AVERAGE with empty partitions filled, queries SUM; best of ``--repeats``; recplug-muvera's time and
  every peer's, and the ratio;
- agreement with the reference on the ten golden cases (``../shared/data/muvera-golden``): from the seed alone
  and with the reference's random matrices injected (where the peer lets them in), to float32 rounding.

Command (from the repo root; the first run makes ``.venv-fde-peers``)::

    OMP_NUM_THREADS=2 RAYON_NUM_THREADS=2 .venv/bin/python -m tools.bench.muvera.fde_peers

Writes ``tools/bench/muvera/fde_peers/results.json`` and ``results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.muvera.fde_peer_worker import SEED, K, P, R, best_time, close  # numpy only: one setting, one timer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
REQUIREMENTS = HERE / "requirements-fde-peers.txt"
WORKER = HERE / "fde_peer_worker.py"


def peers_python(venv: Path, requirements: Path = REQUIREMENTS) -> Path:
    """A peer environment's interpreter; the virtual environment is made (and ``requirements`` installed) when
    missing."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} with {requirements.name} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
    return python


def recplug_side(docs: list[np.ndarray], queries: list[np.ndarray], repeats: int) -> dict[str, Any]:
    """recplug-muvera's times at the benchmark's setting and its agreement with the golden cases."""
    from recplug.multivector import MultiVectorBatch
    from recplug_muvera.config import FDEConfig
    from recplug_muvera.fde import FixedDimensionalEncoder, fde
    from recplug_muvera.testing import golden_cases, load_case

    config = FDEConfig(dimension=docs[0].shape[1], num_repetitions=R, num_simhash_projections=K, seed=SEED,
                       encoding_type="AVERAGE", projection_type="AMS_SKETCH", projection_dimension=P,
                       fill_empty_partitions=True)
    encode_docs = FixedDimensionalEncoder(config)
    encode_queries = FixedDimensionalEncoder(config.for_queries(), encode_docs.matrices)
    doc_batch, query_batch = MultiVectorBatch.from_sets(docs), MultiVectorBatch.from_sets(queries)
    timing = {"documents_s": best_time(lambda: encode_docs(doc_batch), repeats)[0],
              "queries_s": best_time(lambda: encode_queries(query_batch), repeats)[0],
              "documents_list_s": best_time(lambda: encode_docs(docs), repeats)[0]}
    try:  # muvera-python is also in the project's environment: timed again here, in recplug's own process
        from muvera import Muvera

        theirs = Muvera(num_repetitions=R, num_simhash_projections=K, dimension=docs[0].shape[1],
                        projection_type="ams_sketch", projection_dimension=P, fill_empty_partitions=True, seed=SEED)
        timing["muvera_python_here_documents_s"] = best_time(lambda: theirs.encode_documents(docs), repeats)[0]
        timing["muvera_python_here_queries_s"] = best_time(lambda: theirs.encode_queries(queries), repeats)[0]
    except ImportError:
        pass
    cases = {}
    for case in golden_cases():
        _, arrays, matrices = load_case(case)
        want = arrays["fde"]
        seeded = fde([arrays["points"]], FDEConfig(**case["config"], random_source="reference"))[0]
        injected = fde([arrays["points"]], FDEConfig(**case["config"]), matrices)[0]
        cases[case["file"]] = {"expressible": True,
                               "from_seed": close(seeded, want), "injected": close(injected, want)}
    return {"timing": timing, "cases": cases}


def count_equal(cases: dict[str, Any], how: str) -> str:
    """``"7/9 (1 not expressible)"``: golden cases reproduced ``how`` ("from_seed" / "injected")."""
    expressible = [c for c in cases.values() if c.get("expressible")]
    tried = [c for c in expressible if c.get(how, {}).get("equal") is not None]
    if not tried:
        return "not possible"
    equal = sum(bool(c[how]["equal"]) for c in tried)
    missing = len(cases) - len(expressible)
    return f"{equal}/{len(tried)}" + (f" ({missing} not expressible)" if missing else "")


def markdown(results: dict[str, Any]) -> str:
    from recplug_eval import markdown_table
    from recplug_muvera.testing import golden_cases

    golden = {c["file"]: ", ".join(f"{k}={v}" for k, v in c["config"].items()
                                   if k in ("encoding_type", "projection_type", "fill_empty_partitions")
                                   or (k == "final_projection_dimension" and v))
              for c in golden_cases()}

    ours = results["recplug-muvera"]["timing"]
    rows = [["recplug-muvera", results["recplug_version"], f"{results['docs']}",
             f"{results['docs'] / ours['documents_s']:,.0f}", f"{results['queries'] / ours['queries_s']:,.0f}", "1.00",
             "1.00", count_equal(results["recplug-muvera"]["cases"], "from_seed"),
             count_equal(results["recplug-muvera"]["cases"], "injected")]]
    for name, entry in results["peers"].items():
        if "error" in entry:
            rows.append([name, entry.get("version", "?"), "", "failed: " + entry["error"], "", "", "", "", ""])
            continue
        t = entry["timing"]
        rows.append([name, entry["version"], f"{results['docs']}", f"{results['docs'] / t['documents_s']:,.0f}",
                     f"{results['queries'] / t['queries_s']:,.0f}", f"{t['documents_s'] / ours['documents_s']:.1f}",
                     f"{t['queries_s'] / ours['queries_s']:.1f}", count_equal(entry["cases"], "from_seed"),
                     count_equal(entry["cases"], "injected")])
    table = markdown_table(["implementation", "version", "docs", "docs/s", "queries/s", "recplug speed-up (docs)",
                            "recplug speed-up (queries)", "golden cases equal from the seed",
                            "equal with the reference's matrices"], rows)
    peer_times = [e["timing"]["documents_s"] for e in results["peers"].values() if "timing" in e]
    peer_times += [ours["muvera_python_here_documents_s"]] if "muvera_python_here_documents_s" in ours else []
    fastest = min(peer_times, default=None)  # the fastest measurement of any peer, either process
    lines = [
        "# FDE encoding: recplug-muvera and the other MUVERA implementations",
        "",
        f"Run {results['date']} on {results['cpu']}, {results['threads']} threads (OMP / RAYON), Python "
        f"{results['python']}. Command: `{results['command']}`.",
        "",
        f"Token sets: all-MiniLM-L6-v2 token embeddings (float32, unit rows) of the first {results['docs']:,} SciFact "
        f"documents ({results['doc_vectors']:,} vectors) and the {results['queries']} test queries "
        f"({results['query_vectors']:,} vectors); FDE (R, k_sim, d_proj) = ({R}, {K}, {P}), AMS projection, documents "
        "AVERAGE with empty partitions filled, queries SUM; best of "
        f"{results['repeats']} runs each, every implementation on the same sets in the same run (peers in their own "
        "virtual environment, `requirements-fde-peers.txt`). `pymuvera`, a port of Google's code named in issue 34, "
        "is not on the package index this machine reaches; `muvfde` (C++ bindings of the reference's code) stands in "
        "for it.",
        "",
        table,
        "",
    ]
    if "muvera_python_here_documents_s" in ours:
        here_d, here_q = ours["muvera_python_here_documents_s"], ours["muvera_python_here_queries_s"]
        lines.append(f"muvera-python timed again in recplug-muvera's own process (the project's environment, right after "
                     f"recplug-muvera): documents {here_d:.2f} s ({here_d / ours['documents_s']:.1f}x recplug-muvera's "
                     f"time), queries {here_q:.3f} s ({here_q / ours['queries_s']:.1f}x). The two measurements of the "
                     "same package show how much a timing moves on this shared machine.")
        lines.append("")
    if fastest:
        ratio = fastest / ours["documents_s"]
        lines.append(f"Documents: recplug-muvera is **{ratio:.1f}x** the fastest peer measurement (target: at least 2x)"
                     + (" — met." if ratio >= 2 else " — NOT met.") + " Speed-ups are peer time / recplug time.")
        lines.append("")
    lines += [
        "Golden cases: Google's C++ reference outputs (`../shared/data/muvera-golden`, ten cases covering both "
        "encodings, both projections, filling and the final projection). \"From the seed\" needs the reference's "
        "random streams (std::mt19937 and libstdc++'s distributions); \"with the reference's matrices\" injects the "
        "SimHash, AMS and count-sketch matrices each case stores, which checks the algorithm alone. A case a peer's "
        "API cannot express (muvera-python: SUM with filling; FastEmbed: a final projection, or AMS to as many "
        "dimensions as the input) is not counted. Per-case differences: `results.json`.",
        "",
    ]
    for name, entry in results["peers"].items():
        cases = entry.get("cases", {})
        notes = sorted({c.get("why") or c.get("injected", {}).get("why", "") for c in cases.values()} - {""})
        differ = [f"{file} ({golden[file]})" for file, c in cases.items()
                  if c.get("expressible") and c.get("injected", {}).get("equal") is False]
        if differ:
            notes.append("with the reference's matrices it differs on " + ", ".join(differ))
        if notes:
            lines.append(f"- {name}: " + "; ".join(notes))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000, help="SciFact documents encoded (corpus order)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--venv", default=str(ROOT / ".venv-fde-peers"), help="the peers' virtual environment")
    parser.add_argument("--out", default=str(HERE / "fde_peers"))
    parser.add_argument("--report-only", action="store_true", help="rewrite results.md from results.json")
    args = parser.parse_args(argv)
    from recplug.fileio import atomic_write_json, atomic_write_text

    if args.report_only:
        folder = Path(args.out)
        atomic_write_text(folder / "results.md", markdown(json.loads((folder / "results.json").read_text())))
        return
    from recplug_eval import cpu_model
    from recplug_muvera.testing import golden_dir

    from tools.bench.muvera.scifact_tokens import load_tokens

    python = peers_python(Path(args.venv))
    tokens = load_tokens(None)
    docs = [np.asarray(tokens.docs[i], np.float32) for i in range(min(args.docs, len(tokens.docs)))]
    queries = [np.asarray(tokens.queries[i], np.float32) for i in range(len(tokens.queries))]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "tokens.npz"
        np.savez(data, documents_values=np.concatenate(docs),
                 documents_offsets=np.concatenate([[0], np.cumsum([len(s) for s in docs])]),
                 queries_values=np.concatenate(queries),
                 queries_offsets=np.concatenate([[0], np.cumsum([len(s) for s in queries])]))
        peers_json = Path(folder) / "peers.json"
        subprocess.run([str(python), str(WORKER), "--tokens", str(data), "--golden", str(golden_dir()),
                        "--repeats", str(args.repeats), "--out", str(peers_json)], check=True, env=dict(os.environ))
        peers = json.loads(peers_json.read_text())
    from importlib import metadata

    results = {
        "date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "python": platform.python_version(),
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"), "repeats": args.repeats,
        "command": "OMP_NUM_THREADS=2 RAYON_NUM_THREADS=2 .venv/bin/python -m tools.bench.muvera.fde_peers"
                   + (f" --docs {args.docs}" if args.docs != 1000 else ""),
        "docs": len(docs), "doc_vectors": int(sum(len(s) for s in docs)), "queries": len(queries),
        "query_vectors": int(sum(len(s) for s in queries)), "recplug_version": metadata.version("recplug-muvera"),
        "recplug-muvera": recplug_side(docs, queries, args.repeats), "peers": peers,
    }
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", markdown(results))
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()
