"""``recplug train`` and ``recplug recsys-eval`` (argparse; torch and torchrec are imported in ``run``).

Examples::

    recplug train --config train.toml
    recplug train --set data.dataset=ml-100k --set epochs=30 --set output_dir=runs/ml100k
    recplug train --set data.dataset=path/to/folder      # interactions.csv (+ users.csv, items.csv) of your own
    recplug data check train.toml                        # the schema, tables and splits, before training
    torchrun --nproc_per_node 2 -m recplug.cli.main train --set sharding=table_wise ...
    recplug recsys-eval runs/ml100k            # test metrics of the run's best model
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from recplug.records import CommandSpec
from recplug_eval.options import positive_ints

DATA_HELP = (
    "Data: data.dataset is a dataset component (ml-100k, ml-1m, an installed plugin's), a folder holding "
    "interactions.csv/.parquet and optional users.* / items.* tables, or \"files\" with data.interactions = PATH. "
    "Features: [features.<name>] tables in the config file (table, kind, column, ...); see README, "
    "\"Bring your own data\"."
)


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field, dotted for nested tables: --set model.embedding_dim=32, "
                             "--set data.dataset=path/to/folder, --set features.item_tags.min_count=5")


def _configure_train(parser: argparse.ArgumentParser) -> None:
    parser.description = DATA_HELP
    parser.add_argument("--config", help="TOML or JSON file with TrainConfig fields (see recplug_recsys.config)")
    _add_config_arguments(parser)
    parser.add_argument("--out", "--output-dir", dest="output_dir",
                        help="output folder, as for every recplug command (shortcut for --set output_dir=...)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the data check (schema, tables, splits) and stop before training")


def _print_metrics(title: str, metrics: dict[str, float]) -> None:
    from recplug_eval import markdown_table
    from recplug_eval.metrics import measure_name

    ks = sorted({int(k.split("@")[1]) for k in metrics if "@" in k and "/" not in k})
    names = [measure_name(m, k) for m in ("R", "nDCG", "RR") for k in ks]
    rows = []
    for prefix in ("", "head/", "tail/"):
        if prefix + names[0] in metrics:
            rows.append([prefix.rstrip("/") or "all", *[f"{metrics[prefix + name]:.4f}" for name in names]])
    header = ["slice", *names]
    print(f"{title}\n{markdown_table(header, rows)}")


def _run_train(args: argparse.Namespace, pm: Any) -> int:
    from recplug_recsys.config import load_config
    from recplug_recsys.trainer import Trainer

    overrides = list(args.set)
    if args.output_dir:
        overrides.append(f"output_dir={json.dumps(args.output_dir)}")
    config = load_config(args.config, overrides)
    if args.dry_run:
        return _print_check(config, pm, as_json=False)
    trainer = Trainer(config, pm=pm)
    result = trainer.fit()
    if trainer.rank == 0:
        _print_metrics(f"{config.data.dataset} ({config.data.split} split), test, best epoch "
                       f"{result['best_epoch']}; written to {config.output_dir}/metrics.json", result["test"])
    return 0


def _configure_eval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="output_dir of a finished `recplug train`")
    parser.add_argument("--ks", type=positive_ints, default=None,
                        help="comma-separated cut-offs (default: the run's eval_ks)")


def _run_eval(args: argparse.Namespace, pm: Any) -> int:
    from recplug_recsys.trainer import evaluate_run

    _print_metrics(f"test metrics of {args.run_dir}/best.pt", evaluate_run(args.run_dir, args.ks, pm=pm))
    return 0


def _configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="output_dir of a finished `recplug train`")
    parser.add_argument("out", help="export folder (a new version is swapped in atomically; older ones removed)")


def _run_export(args: argparse.Namespace, pm: Any) -> int:
    from recplug_recsys.export import describe_export, export_run

    print(describe_export(export_run(args.run_dir, args.out, pm=pm)))
    return 0


def _configure_data(parser: argparse.ArgumentParser) -> None:
    parser.description = DATA_HELP
    parser.add_argument("action", choices=["check"], help="check: print the schema, table sizes and splits")
    parser.add_argument("config", nargs="?", help="TOML or JSON run config (default: the built-in defaults)")
    _add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown tables")


def _print_check(config: Any, pm: Any, as_json: bool) -> int:
    from recplug_recsys.data_check import describe

    text, data = describe(config, pm)
    print(json.dumps(data, indent=2) if as_json else text)
    return 0


def _run_data(args: argparse.Namespace, pm: Any) -> int:
    from recplug_recsys.config import load_config

    return _print_check(load_config(args.config, list(args.set)), pm, as_json=args.json)


def command_specs() -> list[Any]:
    """The sub-commands of recplug-recsys."""
    return [
        CommandSpec("train", "train the two-tower recommender (torchrec) and report test Recall/NDCG/MRR",
                    _configure_train, _run_train),
        CommandSpec("recsys-eval", "full-ranking test metrics of a trained two-tower run", _configure_eval, _run_eval),
        CommandSpec("recsys-export", "export a trained two-tower for serving: tables, towers and the fitted schema",
                    _configure_export, _run_export),
        CommandSpec("data", "check a recommender dataset and feature schema before training (recplug data check)",
                    _configure_data, _run_data),
    ]
