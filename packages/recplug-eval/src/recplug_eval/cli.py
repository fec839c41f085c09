"""The ``recplug eval`` and ``recplug demo`` sub-commands (argparse; heavy imports happen in ``run``).

Examples::

    recplug eval --bm25 --encoder minilm --out out/eval            # SciFact test, BM25 + dense MiniLM
    recplug eval --dataset beir --dataset-config path=/data/nfcorpus --encoder minilm --index exact \\
                 --index-config metric=ip --encoder-config batch_size=32
    recplug eval --config systems.toml                             # [eval] table + [[systems]] list
    recplug eval --config exact.toml --encoder minilm-tokens --index muvera-chamfer --reference exact-chamfer
    recplug demo                                                   # writes out/demo/
"""

from __future__ import annotations

import argparse
from typing import Any

from recplug.records import CommandSpec

from recplug_eval.options import positive_int


def _configure_eval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default=None, help="dataset component (default: scifact)")
    parser.add_argument("--dataset-config", action="append", metavar="KEY=VALUE|FILE", help="dataset options")
    parser.add_argument("--split", default=None, help="qrels split (default: test)")
    parser.add_argument("-k", "--k", type=positive_int, default=None, help="results per query (default: 100)")
    parser.add_argument("--measures", default=None, help="comma-separated ir-measures names, e.g. nDCG@10,R@100,RR@10,AP")
    parser.add_argument("--bm25", action="store_true", help="evaluate the BM25 baseline (bm25s)")
    parser.add_argument("--bm25-config", action="append", metavar="KEY=VALUE|FILE", help="bm25s options (method, k1, b)")
    parser.add_argument("--encoder", help="encoder component, e.g. minilm")
    parser.add_argument("--encoder-config", action="append", metavar="KEY=VALUE|FILE", help="encoder options")
    parser.add_argument("--index", help="index component (default: chosen for the encoder)")
    parser.add_argument("--index-config", action="append", metavar="KEY=VALUE|FILE", help="index options")
    parser.add_argument("--rerank-encoder", help="encoder for an exact second stage over the candidates")
    parser.add_argument("--rerank-config", action="append", metavar="KEY=VALUE|FILE", help="rerank encoder options")
    parser.add_argument("--rerank-depth", type=positive_int, default=100, help="candidates re-scored per query")
    parser.add_argument("--name", help="label of the encoder system (default: encoder+index)")
    parser.add_argument("--reference", metavar="SYSTEM",
                        help="compare the encoder system's run with this system's (adds 'R@k vs SYSTEM' metrics)")
    parser.add_argument("--latency-queries", type=int, default=None, metavar="N",
                        help="queries timed one per call after the batch search (a seeded sample; default 100; 0: off)")
    parser.add_argument("--latency-seconds", type=float, default=None, metavar="S",
                        help="stop that timing after S seconds per system (at least 20 queries are timed)")
    parser.add_argument("--run", action="append", default=[], metavar="FILE",
                        help="score an existing TREC run file (repeatable; named after the file)")
    parser.add_argument("--config", help="JSON/TOML file: an [eval] table (EvalConfig fields) and [[systems]]")
    parser.add_argument("--out", default="out/eval", help="output folder (default: out/eval)")
    parser.add_argument("--cache-dir", default=None, help="encodings cache folder (default: ~/.cache/recplug)")
    parser.add_argument("--no-cache", action="store_true", help="do not cache document encodings")
    parser.add_argument("--max-queries", type=positive_int, default=None, help="only the first N judged queries")


def eval_plan(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """The :class:`EvalConfig` and systems described by the parsed arguments (file first, flags override)."""
    from pathlib import Path

    from recplug.errors import ConfigError

    from recplug_eval.options import parse_config_items, read_config_file
    from recplug_eval.runner import EvalConfig, SystemConfig

    file = read_config_file(args.config) if args.config else {}
    unknown = set(file) - {"eval", "systems"}
    if unknown:
        raise ConfigError(f"{args.config}: unknown top-level keys {sorted(unknown)}; expected 'eval' and 'systems'")
    settings: dict[str, Any] = dict(file.get("eval", {}))
    for key, value in (("dataset", args.dataset), ("split", args.split), ("k", args.k), ("max_queries", args.max_queries),
                       ("latency_queries", args.latency_queries), ("latency_seconds", args.latency_seconds)):
        if value is not None:
            settings[key] = value
    if args.dataset_config:
        settings["dataset_config"] = {**settings.get("dataset_config", {}), **parse_config_items(args.dataset_config)}
    if args.measures:
        settings["measures"] = tuple(m.strip() for m in args.measures.split(",") if m.strip())
    elif "measures" in settings:
        settings["measures"] = tuple(settings["measures"])
    if args.cache_dir:
        settings["cache_dir"] = Path(args.cache_dir)
    if args.no_cache:
        settings["use_cache"] = False
    try:
        config = EvalConfig(**settings)
    except TypeError as exc:
        raise ConfigError(f"eval settings: {exc}") from exc
    systems = [SystemConfig.from_dict(s) for s in file.get("systems", [])]
    if args.bm25:
        systems.append(SystemConfig.bm25("bm25", **parse_config_items(args.bm25_config)))
    if args.encoder:
        name = args.name or (f"{args.encoder}+{args.index}" if args.index else args.encoder)
        systems.append(
            SystemConfig(
                name=name,
                encoder=args.encoder,
                encoder_config=parse_config_items(args.encoder_config),
                index=args.index,
                index_config=parse_config_items(args.index_config),
                rerank_encoder=args.rerank_encoder,
                rerank_encoder_config=parse_config_items(args.rerank_config),
                rerank_depth=args.rerank_depth,
                reference=args.reference,
            )
        )
    systems += [SystemConfig.trec_run(path) for path in args.run]
    if not systems:
        raise ConfigError("nothing to evaluate: pass --bm25, --encoder NAME, --run FILE or --config FILE with [[systems]]")
    return config, systems


def _run_eval(args: argparse.Namespace, pm: Any) -> int:
    from recplug_eval.paths import check_output_dir
    from recplug_eval.report import results_table, write_report
    from recplug_eval.runner import run_evaluation

    check_output_dir(args.out, "--out")  # before the evaluation, not after it
    config, systems = eval_plan(args)
    report = run_evaluation(config, systems, pm=pm)
    paths = write_report(report, args.out)
    print(results_table(report))
    print(f"\nwrote {paths['json'].parent}/ (results.json, results.md, plot.png, runs/, per_query/)")
    return 0


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--only", action="append", default=[], metavar="STEP", help="run only these steps")
    parser.add_argument("--skip", action="append", default=[], metavar="STEP", help="skip these steps")
    parser.add_argument("--list", action="store_true", help="list the demo steps and exit")
    parser.add_argument("--cache-dir", default=None, help="encodings cache folder (default: ~/.cache/recplug)")
    parser.add_argument("--max-queries", type=positive_int, default=None, help="only the first N judged queries (quick look)")


def _run_demo(args: argparse.Namespace, pm: Any) -> int:
    from pathlib import Path

    from recplug_eval.demo import demo_eval_config, discover_steps, run_demo
    from recplug_eval.paths import check_output_dir
    from recplug_eval.report import results_table

    if args.list:
        for loaded in discover_steps(pm):
            print(f"{loaded.name:20s} {loaded.source:24s} {loaded.step.title}")
        return 0
    check_output_dir(args.out, "--out")
    config = demo_eval_config(args.cache_dir or None, args.max_queries)
    report, _ = run_demo(args.out, only=args.only, skip=args.skip, eval_config=config, pm=pm)
    if report is not None:
        print(results_table(report))
    print(f"\nwrote {Path(args.out) / 'index.html'} (open it in a browser), report.md and results.json")
    return 0


def command_specs() -> list[CommandSpec]:
    return [
        CommandSpec(
            "demo",
            "run the baselines (BM25, dense MiniLM) and installed plugins' demo steps on SciFact; writes out/demo/",
            _configure_demo,
            _run_demo,
        ),
        CommandSpec(
            "eval",
            "evaluate retrieval systems (encoder + index, or BM25) on a BEIR dataset; writes JSON, markdown, runs, plot",
            _configure_eval,
            _run_eval,
        ),
    ]
