"""Stage 5: results.json -> results.md (tables) and ndcg_vs_flops.png.

Run: ``.venv/bin/python -m tools.bench.flops_idf.report``
"""

from __future__ import annotations

import argparse
import itertools
import json

from .common import add_run_arguments, configure, results_dir

COMMAND = """nice -n 10 .venv/bin/python -m tools.bench.flops_idf.prepare
nice -n 10 .venv/bin/python -m tools.bench.flops_idf.teachers
# the two students in parallel, one core each (the training times above are from this)
.venv/bin/python -m tools.bench.flops_idf.train_students flops --threads 1 &
.venv/bin/python -m tools.bench.flops_idf.train_students flops-idf --threads 1 &
wait
nice -n 10 .venv/bin/python -m tools.bench.flops_idf.evaluate
nice -n 10 .venv/bin/python -m tools.bench.flops_idf.seismic_bench
nice -n 10 .venv/bin/python -m tools.bench.flops_idf.ablations
# held-out training runs (train queries only), then the held-out table that lists them
nice -n 5 .venv/bin/python -m tools.bench.flops_idf.train_students flops-idf --holdout 100 --threads 1 --transform --transform-lr 1e-3 --steps 150 --warmup 60 --tag _transform
nice -n 10 .venv/bin/python -m tools.bench.flops_idf.holdout
.venv/bin/python -m tools.bench.flops_idf.report"""


def main(argv: list[str] | None = None) -> None:
    configure(add_run_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv))
    from recplug_eval import markdown_table

    res = json.loads((results_dir() / "results.json").read_text())
    rows = []
    for name, m in res["systems"].items():
        rows.append([name, f"{m['nDCG@10']:.3f}", f"{m['R@100']:.3f}",
                     f"{m['doc_nnz']:.0f}" if "doc_nnz" in m else "", f"{m['flops_per_query']:.3g}"])
    lat = res["latency"]
    bm25_one = lat["bm25s, one query at a time"]
    bm25_batch = lat["bm25s, batch of all queries"]
    lat_rows = []
    for name, ms in lat.items():
        ref = bm25_batch if "batch" in name else bm25_one
        if "tokenization" in name:
            ref = lat["bm25s incl. tokenization, one at a time"]
        lat_rows.append([name, f"{ms:.3f}", f"{ms / ref:.2f}x"])
    setup = res["setup"]
    train_lines = []
    for key in ("train_flops", "train_flops-idf"):
        if key in setup:
            t = setup[key]
            last = t["history"][-1]
            train_lines.append(
                f"- `{t['regularizer']}`: {t['config']['steps']} steps x {t['config']['queries_per_batch']} queries "
                f"(C = {t['candidates']} candidates each), lambda {t['lambda']}, warm-up T = {t['warmup_steps']}, "
                f"lexical channel {t.get('lexical_weight', 0.0):g}, "
                f"{t['train_seconds']:.0f} s; last batch: doc nnz {last['doc_nnz']:.0f}, KL {last['kl']:.3f}, "
                f"InfoNCE {last['contrastive']:.3f}"
            )
    md = [
        "# flops_idf: inference-free learned sparse retrieval on SciFact "
        f"(test, {res['setup']['queries']} queries, {res['setup']['documents']:,} docs)",
        "",
        "Measured on this project's shared 2-core CPU machine (other jobs running; see the README of "
        "`plugins/recplug-flops-idf` for the method and its limits). Train split only for training.",
        "",
        "## Quality",
        "",
        markdown_table(["system", "nDCG@10", "R@100", "doc nnz", "FLOPS/query"], rows),
        "",
        "FLOPS/query: postings touched per query (sparse systems), N x D multiply-adds for dense. "
        "`matched` rows prune both students to the same average document length "
        f"({setup['matched_doc_nnz_target']:.0f} terms); native nnz: "
        + ", ".join(f"{k} {v:.0f}" for k, v in setup["doc_nnz_native"].items()) + ".",
        "",
        "## Training",
        "",
        *train_lines,
        "",
        "## Query latency (same run, ms per query, k = 10, median of "
        f"{setup['repeats']} passes over {setup['queries']} queries; ratio vs bm25s in the same mode)",
        "",
        markdown_table(["system", "ms/query", "vs bm25s"], lat_rows),
        "",
        f"bm25s backend: {setup['bm25s_backend']}; our index: IDF-aware student, matched sparsity "
        f"({setup['index_doc_nnz_latency']:.0f} postings per document on average). The machine is shared "
        "with other jobs, so absolute times drift between runs (compare bm25s here and in the Seismic table "
        "below); compare ratios within one table only.",
        "",
        *seismic_section(),
        *ablation_section(),
        *holdout_section(),
        "![nDCG@10 vs FLOPS per query](ndcg_vs_flops.png)",
        "",
        "## Reproduce",
        "",
        "```",
        COMMAND,
        "```",
        "",
    ]
    (results_dir() / "results.md").write_text("\n".join(md))
    plot(res)


def seismic_section() -> list[str]:
    from recplug_eval import markdown_table

    path = results_dir() / "results_seismic.json"
    if not path.exists():
        return []
    s = json.loads(path.read_text())
    lat = s["latency_ms_per_query"]
    ref = lat["bm25s"]
    return [
        "## Seismic (pyseismic-lsr 0.5.4), a second same-run latency comparison",
        "",
        "IDF-aware student's vectors (IDF folded), binary queries, one query at a time, k = 10. Seismic is "
        f"approximate: nDCG@10 {s['quality']['nDCG@10']:.3f}, R@100 {s['quality']['R@100']:.3f}, top-10 overlap "
        f"with the exact index {s['top10_overlap_with_exact']:.2f}.",
        "",
        markdown_table(["system", "ms/query", "vs bm25s"], [[k, f"{v:.3f}", f"{v / ref:.2f}x"] for k, v in lat.items()]),
        "",
    ]


def ablation_section() -> list[str]:
    from recplug_eval import markdown_table

    path = results_dir() / "results_ablations.json"
    if not path.exists():
        return []
    rows = [[k, f"{m['nDCG@10']:.3f}", f"{m['R@100']:.3f}", f"{m['doc_nnz']:.0f}", f"{m['flops_per_query']:.3g}"]
            for k, m in json.loads(path.read_text()).items()]
    return [
        "## Diagnostics (same queries and metrics)",
        "",
        markdown_table(["system", "nDCG@10", "R@100", "doc nnz", "FLOPS/query"], rows),
        "",
    ]


def holdout_section() -> list[str]:
    from recplug_eval import markdown_table

    path = results_dir() / "results_holdout.json"
    if not path.exists():
        return []
    h = json.loads(path.read_text())
    rows = [[k, f"{m['nDCG@10']:.3f}", f"{m['R@100']:.3f}", f"{m['doc_nnz']:.0f}" if "doc_nnz" in m else ""]
            for k, m in h["systems"].items()]
    runs = [[r["regularizer"], str(r["steps"]), f"{r['lr']:g}", f"{r['bias_lr']:g}", f"{r['lambda']:g}",
             f"{r['skip_scale']:g}", "yes" if r.get("transform") else "no", f"{r.get('lexical_weight', 0.0):g}",
             f"{r['kl_weight']:g} / {r['contrastive_weight']:g}", f"{r['train_seconds']:.0f}", f"{r['nDCG@10']:.3f}"]
            for r in h["trained_runs"]]
    lines = [
        f"## Settings chosen without the test split ({h['holdout_queries']} SciFact train queries kept out of training)",
        "",
        "`holdout.py`: full-corpus retrieval for the last train queries of `train_examples.npz`; the skip / bias "
        "and the lexical-channel weight of the students come from this table.",
        "",
        markdown_table(["system", "nDCG@10", "R@100", "doc nnz"], rows),
        "",
    ]
    if runs:
        lines += [
            "Training runs on the other train queries (`train_students.py --holdout 100`), scored on the kept-out ones:",
            "",
            markdown_table(["regularizer", "steps", "lr", "bias lr", "lambda", "skip", "transform", "lexical", "KL / InfoNCE weight",
                            "train s", "nDCG@10"], runs),
            "",
        ]
    return lines


def plot(res: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    extra = results_dir() / "results_ablations.json"
    systems = dict(res["systems"])
    if extra.exists():
        systems.update(json.loads(extra.read_text()))
    # left: every system; right: the same points zoomed on the best cluster (students and lexical rows)
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(12, 7.5), gridspec_kw={"width_ratios": [1, 1]})
    markers = itertools.cycle("*osDv^<>pPhX")
    seen = set()
    for name, m in systems.items():
        if "dense" in name:
            for a in (ax, zoom):
                a.axhline(m["nDCG@10"], color="grey", ls="--", lw=1,
                          label=f"{name} (N x D = {m['flops_per_query']:.2g} FLOPS)" if a is ax else None)
            continue
        key = (round(m["nDCG@10"], 4), round(m["flops_per_query"]))
        if key in seen:  # a pruned copy identical to its native row
            continue
        seen.add(key)
        marker = next(markers)
        ax.scatter(m["flops_per_query"], m["nDCG@10"], marker=marker, s=70, label=name)
        zoom.scatter(m["flops_per_query"], m["nDCG@10"], marker=marker, s=110, color=ax.collections[-1].get_facecolor())
    bm25 = systems.get("BM25 (bm25s)")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPS per query (postings touched, log scale)")
    zoom.set_xlabel("FLOPS per query (postings touched)")
    for a in (ax, zoom):
        a.grid(True, which="both", alpha=0.3)
        if bm25:
            a.axhline(bm25["nDCG@10"], color="C0", ls=":", lw=1)
    ax.set_ylabel("nDCG@10 (SciFact test)")
    ax.set_title("all systems")
    top = [m for m in systems.values() if "dense" not in m and m["nDCG@10"] >= 0.67 and m["flops_per_query"] > 1.5e4]
    if top:
        xs, ys = [m["flops_per_query"] for m in top], [m["nDCG@10"] for m in top]
        zoom.set_xlim(min(xs) / 1.08, max(xs) * 1.08)
        zoom.set_ylim(min(ys) - 0.004, max(ys) + 0.004)
    zoom.set_title("zoom on the best cluster (dotted: BM25)")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    fig.savefig(results_dir() / "ndcg_vs_flops.png", dpi=130)


if __name__ == "__main__":
    main()
