"""The peers' side of ``tools/bench/muvera/fde_peers.py``: runs in the peers' own virtual environment (numpy and
the peer packages of ``requirements-fde-peers.txt``, no recplug, no torch) and is driven by that script.

For each peer that imports (muvera-python, muvfde, FastEmbed's ``Muvera``):

- throughput: documents (AVERAGE, empty partitions filled) and queries (SUM) of the token sets in ``--tokens``
  (an npz of float32 ``values`` and ``offsets`` per side), at the benchmark's FDE setting, best of ``--repeats``;
- agreement with Google's C++ reference on the golden cases (``--golden``, ``cases.json`` + ``caseNN.npz``): the
  peer's FDE from the seed alone, and with the reference's random matrices injected where the peer's code lets
  them in (muvera-python draws them through module-level functions; FastEmbed keeps them as attributes;
  muvfde draws them inside its C++ code, from the seed only). A case the peer's API cannot express (e.g. a final
  projection in FastEmbed) is reported as such.

Writes one JSON file (``--out``). Kept free of recplug so that it runs wherever the peers install.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

R, K, P = 20, 5, 16  # the benchmark's FDE setting: 20 repetitions, 5 SimHash bits, AMS projection to 16
SEED = 42
ATOL, RTOL = 1e-6, 1e-5  # float32 rounding of sums of a few dozen terms (recplug-muvera's golden test)


def sets_of(data: Any, side: str) -> list[np.ndarray]:
    values, offsets = data[f"{side}_values"], data[f"{side}_offsets"]
    return [np.ascontiguousarray(values[offsets[i] : offsets[i + 1]]) for i in range(len(offsets) - 1)]


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def close(got: np.ndarray, want: np.ndarray) -> dict[str, Any]:
    got = np.asarray(got, np.float32).reshape(-1)
    if got.shape != want.shape:
        return {"equal": False, "why": f"shape {got.shape} vs the reference's {want.shape}"}
    diff = float(np.abs(got - want).max())
    return {"equal": bool(np.allclose(got, want, rtol=RTOL, atol=ATOL)), "max_abs_diff": diff}


# ---------------------------------------------------------------------------------------------- muvera-python
def muvera_python(dimension: int, config: dict[str, Any]) -> Any:
    from muvera import Muvera

    return Muvera(
        num_repetitions=config["num_repetitions"], num_simhash_projections=config["num_simhash_projections"],
        dimension=dimension,
        projection_type="ams_sketch" if config["projection_type"] == "AMS_SKETCH" else "identity",
        projection_dimension=config.get("projection_dimension") or None,
        fill_empty_partitions=config["fill_empty_partitions"],
        final_projection_dimension=config.get("final_projection_dimension") or None, seed=config["seed"],
    )


def muvera_python_encode(model: Any, points: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    average = config["encoding_type"] == "AVERAGE"
    return (model.encode_documents if average else model.encode_queries)([points])[0]


def muvera_python_case(case: dict[str, Any], arrays: Any) -> dict[str, Any]:
    import importlib

    module = importlib.import_module("muvera.muvera")  # the module (the package re-exports the class as muvera.Muvera)
    config, points = case["config"], arrays["points"]
    if config["encoding_type"] == "DEFAULT_SUM" and config["fill_empty_partitions"]:
        return {"expressible": False, "why": "encode_queries never fills empty partitions"}
    out: dict[str, Any] = {"expressible": True}
    out["from_seed"] = close(muvera_python_encode(muvera_python(points.shape[1], config), points, config), arrays["fde"])
    # inject the reference's matrices: muvera-python draws repetition r's with seed + r through these functions
    saved = {name: getattr(module, name) for name in ("simhash_matrix_from_seed", "ams_projection_matrix_from_seed",
                                                      "count_sketch_vector_from_seed")}
    seed = config["seed"]
    try:
        module.simhash_matrix_from_seed = lambda d, k, s: (arrays["simhash"][s - seed] if "simhash" in arrays.files
                                                           else np.zeros((d, 0), np.float32))  # k_sim 0
        module.ams_projection_matrix_from_seed = lambda d, p, s: arrays["ams"][s - seed]
        if "count_sketch_index" in arrays.files:
            index, sign = arrays["count_sketch_index"], arrays["count_sketch_sign"]

            def sketch(vector: np.ndarray, dimension: int, s: int) -> np.ndarray:
                result = np.zeros(dimension, np.float32)
                np.add.at(result, index, sign * vector)
                return result

            module.count_sketch_vector_from_seed = sketch
        model = muvera_python(points.shape[1], config)
        out["injected"] = close(muvera_python_encode(model, points, config), arrays["fde"])
    finally:
        for name, fn in saved.items():
            setattr(module, name, fn)
    return out


def muvera_python_timing(docs: list[np.ndarray], queries: list[np.ndarray], repeats: int) -> dict[str, float]:
    config = {"num_repetitions": R, "num_simhash_projections": K, "projection_type": "AMS_SKETCH",
              "projection_dimension": P, "fill_empty_partitions": True, "seed": SEED}
    model = muvera_python(docs[0].shape[1], config)
    return {"documents_s": best_time(lambda: model.encode_documents(docs), repeats)[0],
            "queries_s": best_time(lambda: model.encode_queries(queries), repeats)[0]}


# ---------------------------------------------------------------------------------------------- muvfde
def muvfde_config(config: dict[str, Any]) -> Any:
    import muvfde

    made = (muvfde.fixed_dimensional_encoding_config().set_num_repetitions(config["num_repetitions"])
            .set_num_simhash_projections(config["num_simhash_projections"]).set_seed(config["seed"])
            .set_encoding_type(muvfde.encoding_type.AVERAGE if config["encoding_type"] == "AVERAGE"
                               else muvfde.encoding_type.DEFAULT_SUM))
    if config["projection_type"] == "AMS_SKETCH":
        made = made.set_projection_type(muvfde.projection_type.AMS_SKETCH).set_projection_dimension(config["projection_dimension"])
    if config["fill_empty_partitions"]:
        made = made.enable_fill_empty(True)
    if config.get("final_projection_dimension"):
        made = made.set_final_projection_dimension(config["final_projection_dimension"])
    return made


def muvfde_case(case: dict[str, Any], arrays: Any) -> dict[str, Any]:
    import muvfde

    config = case["config"]
    got = muvfde.generate_fixed_dimensional_encoding(arrays["points"], muvfde_config(config))
    return {"expressible": True, "from_seed": close(got, arrays["fde"]),
            "injected": {"equal": None, "why": "draws its matrices inside its C++ code, from the seed only"}}


def muvfde_timing(docs: list[np.ndarray], queries: list[np.ndarray], repeats: int) -> dict[str, float]:
    import muvfde

    base = {"num_repetitions": R, "num_simhash_projections": K, "seed": SEED, "projection_type": "AMS_SKETCH",
            "projection_dimension": P}
    doc_config = muvfde_config({**base, "encoding_type": "AVERAGE", "fill_empty_partitions": True})
    query_config = muvfde_config({**base, "encoding_type": "DEFAULT_SUM", "fill_empty_partitions": False})
    encode = muvfde.generate_fixed_dimensional_encoding
    return {"documents_s": best_time(lambda: [encode(s, doc_config) for s in docs], repeats)[0],
            "queries_s": best_time(lambda: [encode(s, query_config) for s in queries], repeats)[0]}


# ---------------------------------------------------------------------------------------------- FastEmbed
def fastembed_model(dimension: int, config: dict[str, Any]) -> Any:
    from fastembed.postprocess import Muvera

    projection = config.get("projection_dimension") if config["projection_type"] == "AMS_SKETCH" else dimension
    return Muvera(dim=dimension, k_sim=config["num_simhash_projections"], dim_proj=projection,
                  r_reps=config["num_repetitions"], random_seed=config["seed"])


def fastembed_case(case: dict[str, Any], arrays: Any) -> dict[str, Any]:
    config, points = case["config"], arrays["points"]
    if config.get("final_projection_dimension"):
        return {"expressible": False, "why": "no final projection"}
    if config["projection_type"] == "AMS_SKETCH" and config["projection_dimension"] >= points.shape[1]:
        return {"expressible": False, "why": "projects only to fewer dimensions"}
    flags = {"fill_empty_clusters": config["fill_empty_partitions"],
             "normalize_by_count": config["encoding_type"] == "AVERAGE"}
    model = fastembed_model(points.shape[1], config)
    out: dict[str, Any] = {"expressible": True, "from_seed": close(model.process(points, **flags), arrays["fde"])}
    # inject the reference's matrices (FastEmbed keeps them as attributes)
    if "simhash" in arrays.files:  # (none when k_sim is 0)
        for rep, projection in enumerate(model.simhash_projections):
            projection.simhash_vectors = arrays["simhash"][rep].astype(np.float64)
    if "ams" in arrays.files:
        model.dim_reduction_projections = arrays["ams"].astype(np.float64)
    out["injected"] = close(model.process(points, **flags), arrays["fde"])
    return out


def fastembed_timing(docs: list[np.ndarray], queries: list[np.ndarray], repeats: int) -> dict[str, float]:
    config = {"num_simhash_projections": K, "projection_type": "AMS_SKETCH", "projection_dimension": P,
              "num_repetitions": R, "seed": SEED}
    model = fastembed_model(docs[0].shape[1], config)
    return {"documents_s": best_time(lambda: [model.process_document(s) for s in docs], repeats)[0],
            "queries_s": best_time(lambda: [model.process_query(s) for s in queries], repeats)[0]}


PEERS: dict[str, tuple[str, Callable[..., dict[str, Any]], Callable[..., dict[str, float]]]] = {
    "muvera-python": ("muvera-python", muvera_python_case, muvera_python_timing),
    "muvfde": ("muvfde", muvfde_case, muvfde_timing),
    "fastembed": ("fastembed", fastembed_case, fastembed_timing),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", required=True, help="npz: documents_values/offsets, queries_values/offsets")
    parser.add_argument("--golden", required=True, help="folder of cases.json and caseNN.npz")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    with np.load(args.tokens, allow_pickle=False) as data:
        docs, queries = sets_of(data, "documents"), sets_of(data, "queries")
    golden = Path(args.golden)
    cases = json.loads((golden / "cases.json").read_text())
    results: dict[str, Any] = {}
    for name, (distribution, run_case, run_timing) in PEERS.items():
        entry: dict[str, Any] = {}
        try:
            entry["version"] = metadata.version(distribution)
            entry["cases"] = {}
            for case in cases:
                with np.load(golden / case["file"], allow_pickle=False) as arrays:
                    entry["cases"][case["file"]] = run_case(case, arrays)
            entry["timing"] = run_timing(docs, queries, args.repeats)
        except Exception as exc:  # a peer that fails is reported, not fatal: the others still run
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc(limit=3)
        results[name] = entry
        print(f"{name}: {'error ' + entry['error'] if 'error' in entry else entry['timing']}", flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
