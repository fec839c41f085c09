"""Hook implementations of recplug-ssl (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations

from typing import TypedDict

from recplug import RegularizerSpec, hookimpl
from recplug.records import lazy_factory

FACTORY = "recplug_ssl.factories:ssl_factory"


class _Needs(TypedDict):
    needs_model: bool
    needs_item_features: bool


@hookimpl
def recplug_regularizers() -> list[RegularizerSpec]:
    ssl: _Needs = {"needs_model": True, "needs_item_features": True}  # the item tower and every item's features
    return [
        RegularizerSpec(
            "ssl",
            lazy_factory(FACTORY),
            "Self-supervised item-tower InfoNCE (Yao et al. 2021); masking= correlated|random|none",
            **ssl,
        ),
        RegularizerSpec(
            "ssl-cfm",
            lazy_factory(FACTORY, masking="correlated", name="ssl-cfm"),
            "SSL with Correlated Feature Masking (Yao et al. 2021)",
            **ssl,
        ),
        RegularizerSpec(
            "ssl-rfm",
            lazy_factory(FACTORY, masking="random", name="ssl-rfm"),
            "SSL with Random Feature Masking (Yao et al. 2021)",
            **ssl,
        ),
        RegularizerSpec(
            "spread-out",
            lazy_factory("recplug_ssl.factories:spread_out_factory"),
            "Spread-out regularization of item embeddings (Zhang et al. 2017)",
        ),
    ]


@hookimpl
def recplug_demo_steps():
    from recplug_ssl.demo import demo_steps

    return demo_steps()
