"""``recplug data check``: what a run's data and schema become, printed before any training.

The schema (one row per feature: tower, kind, column, table rows x dim, bytes, nulls and every lossy choice),
the rows of each split and the awkward cases :mod:`recplug_recsys.data` defines.
"""

from __future__ import annotations

from typing import Any

from recplug_recsys.config import TrainConfig
from recplug_recsys.data import load_run_data, split_stats


def describe(config: TrainConfig, pm: Any) -> tuple[str, dict[str, Any]]:
    """``(markdown text, the same as a dict)`` for ``config``: loads and splits the data, fits the schema."""
    from recplug_eval import markdown_table

    data = load_run_data(config, pm)
    rows = data.features.schema.rows()
    stats = split_stats(data)
    stats |= dict(data.dataset.report)  # what loading merged or dropped (unmatched / featureless ids)
    columns = ["feature", "tower", "kind", "column", "table", "rows", "dim", "pooling", "bytes", "nulls", "lossy"]
    total = sum(r["bytes"] for r in rows)
    text = "\n".join([
        f"# data check: {config.data.dataset} ({config.data.split} split)",
        "",
        "## Feature schema",
        "",
        markdown_table(columns, [[r[c] for c in columns] for r in rows]),
        "",
        f"{len(rows)} tables, {total:,} bytes of float32 embeddings in all.",
        "",
        "## Data",
        "",
        markdown_table(["", "count"], [[k.replace("_", " "), f"{v:,}"] for k, v in stats.items()]),
    ])
    return text, {"features": rows, "data": stats}
