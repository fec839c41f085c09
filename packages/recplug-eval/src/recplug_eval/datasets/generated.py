"""A generated shop dataset in the user's-own-files layout: a stand-in for data recplug has never seen.

It is *not* MovieLens: other id columns (``customer``, ``sku``), other features (a brand, a ``|``-delimited tag
list, a free-text description, a price, a country with values that share prefixes, ages with gaps), a
timestamp and a quantity weight. Preferences have structure a model can learn: each user and item belongs to
one of ``clusters`` latent groups; a user's interactions pick items of their own group with probability
``affinity`` (else any item), items by a Zipf-like popularity; brands, tags, description words and countries
depend on the group, so features carry signal.

Files written to ``folder``: ``interactions``, ``users``, ``items`` as ``.csv`` or ``.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from recplug.fileio import atomic_folder, atomic_save_with

#: countries whose first characters collide ("united kingdom" / "united states", "austria" / "australia")
COUNTRIES = ("united kingdom", "united states", "austria", "australia", "germany", "france", "japan", "brazil")
COMMON_WORDS = ("classic", "new", "light", "premium", "soft", "daily", "pro", "mini", "eco", "smart")


@dataclass(frozen=True)
class ShopSpec:
    """Sizes and structure of a generated shop dataset."""

    num_users: int = 400
    num_items: int = 300
    num_interactions: int = 12_000
    clusters: int = 8
    affinity: float = 0.8
    seed: int = 0


def generate_shop(spec: ShopSpec) -> dict[str, dict[str, np.ndarray | list]]:
    """Columns of the three tables (plain arrays / lists) for ``spec``."""
    rng = np.random.default_rng(spec.seed)
    u_cluster = rng.integers(0, spec.clusters, spec.num_users)
    i_cluster = rng.integers(0, spec.clusters, spec.num_items)
    popularity = 1.0 / np.arange(1, spec.num_items + 1) ** 0.8
    popularity = popularity[rng.permutation(spec.num_items)]
    # per cluster, its items and their popularity CDF
    members = [np.flatnonzero(i_cluster == c) for c in range(spec.clusters)]
    cdfs = [np.cumsum(popularity[m]) / popularity[m].sum() if m.size else None for m in members]
    global_cdf = np.cumsum(popularity) / popularity.sum()
    users = rng.integers(0, spec.num_users, spec.num_interactions)
    own = rng.random(spec.num_interactions) < spec.affinity
    draws = rng.random(spec.num_interactions)
    items = np.searchsorted(global_cdf, draws).clip(0, spec.num_items - 1)
    for c in range(spec.clusters):
        rows = np.flatnonzero(own & (u_cluster[users] == c))
        cdf = cdfs[c]
        if rows.size and cdf is not None:
            items[rows] = members[c][np.searchsorted(cdf, draws[rows]).clip(0, members[c].size - 1)]
    pairs = np.unique(users.astype(np.int64) * spec.num_items + items)  # one row per (user, item)
    pairs = pairs[rng.permutation(pairs.size)]
    users, items = pairs // spec.num_items, pairs % spec.num_items
    timestamps = 1_600_000_000 + np.sort(rng.integers(0, 10_000_000, pairs.size))
    brands = np.array([f"brand-{c}-{k}" for c in range(spec.clusters) for k in range(3)])
    item_brand = brands[i_cluster * 3 + rng.integers(0, 3, spec.num_items)]
    tag_pool = [[f"tag{c}{k}" for k in range(4)] for c in range(spec.clusters)]
    tags = ["|".join(rng.choice(tag_pool[c], size=rng.integers(1, 4), replace=False)) for c in i_cluster]
    words = [[f"word{c}x{k}" for k in range(12)] for c in range(spec.clusters)]
    descriptions = [
        " ".join([*rng.choice(words[c], size=4), *rng.choice(COMMON_WORDS, size=2)]).capitalize() + "."
        for c in i_cluster
    ]
    price = np.round(np.exp(rng.normal(3 + 0.2 * i_cluster, 0.5)), 2)
    country = [COUNTRIES[(c + (rng.random() < 0.2)) % len(COUNTRIES)] for c in u_cluster]
    age = rng.integers(16, 80, spec.num_users).astype(float)
    age[rng.random(spec.num_users) < 0.1] = np.nan  # unknown ages
    return {
        "interactions": {"customer": [f"c{u:06d}" for u in users], "sku": [f"sku{i:06d}" for i in items],
                         "ts": timestamps, "qty": rng.integers(1, 4, pairs.size).astype(float)},
        "users": {"customer": [f"c{u:06d}" for u in range(spec.num_users)], "country": country, "age": age},
        "items": {"sku": [f"sku{i:06d}" for i in range(spec.num_items)], "brand": item_brand.tolist(),
                  "tags": tags, "description": descriptions, "price": price},
    }


def write_shop(folder: str | Path, spec: ShopSpec = ShopSpec(), fmt: str = "csv") -> Path:
    """Write the three tables of :func:`generate_shop` to ``folder`` (``csv`` or ``parquet``); returns it.

    The folder is written whole beside its place and swapped in (:func:`recplug.fileio.atomic_folder`): a
    write killed at any moment leaves the old folder or the new one; other files in it are not kept.

    Only users and items that occur in some interaction are written to the feature tables.
    """
    import polars as pl

    folder = Path(folder)
    tables = generate_shop(spec)
    frames = {name: pl.DataFrame(columns) for name, columns in tables.items()}
    inter = frames["interactions"]
    frames["users"] = frames["users"].filter(pl.col("customer").is_in(inter["customer"].implode()))
    frames["items"] = frames["items"].filter(pl.col("sku").is_in(inter["sku"].implode()))
    frames["users"] = frames["users"].with_columns(pl.col("age").fill_nan(None))
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be csv or parquet, got {fmt!r}")
    with atomic_folder(folder) as staging:  # the three files are swapped in together
        for name, frame in frames.items():
            write = frame.write_csv if fmt == "csv" else frame.write_parquet
            atomic_save_with(staging / f"{name}.{fmt}", write)
    return folder


#: the feature schema of the shop data, as a config's ``[features]`` tables
SHOP_FEATURES = {
    "customer_id": {"table": "users", "kind": "id"},
    "country": {"table": "users", "kind": "categorical"},
    "age": {"table": "users", "kind": "numeric", "buckets": 6},
    "sku_id": {"table": "items", "kind": "id"},
    "brand": {"table": "items", "kind": "categorical"},
    "tags": {"table": "items", "kind": "multi_categorical", "delimiter": "|"},
    "description": {"table": "items", "kind": "text", "min_count": 2},
    "price": {"table": "items", "kind": "numeric", "buckets": 8},
}
#: the ``[data]`` settings that read it
SHOP_DATA = {"user_column": "customer", "item_column": "sku", "timestamp_column": "ts", "weight_column": "qty"}


def shop_overrides(folder: str | Path) -> list[str]:
    """``recplug train --set`` overrides that read a :func:`write_shop` folder with :data:`SHOP_FEATURES`."""
    import json

    out = [f"data.dataset={json.dumps(str(folder))}"]
    out += [f"data.{k}={json.dumps(v)}" for k, v in SHOP_DATA.items()]
    out += [f"features.{name}={json.dumps(options)}" for name, options in SHOP_FEATURES.items()]
    return out
