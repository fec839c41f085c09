"""Hook implementations of recplug-ssl (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations

from typing import Any

from recplug import RegularizerSpec, hookimpl


def _ssl(**options: Any) -> Any:
    from recplug_ssl.factories import ssl_factory

    return ssl_factory(**options)


def _ssl_cfm(**options: Any) -> Any:
    from recplug_ssl.factories import ssl_cfm_factory

    return ssl_cfm_factory(**options)


def _ssl_rfm(**options: Any) -> Any:
    from recplug_ssl.factories import ssl_rfm_factory

    return ssl_rfm_factory(**options)


def _spread_out(**options: Any) -> Any:
    from recplug_ssl.factories import spread_out_factory

    return spread_out_factory(**options)


@hookimpl
def recplug_regularizers() -> list[RegularizerSpec]:
    needs_model = frozenset({"needs_model", "needs_item_features"})
    return [
        RegularizerSpec(
            "ssl", _ssl, "Self-supervised item-tower InfoNCE (Yao et al. 2021); masking= correlated|random|none",
            needs_model,
        ),
        RegularizerSpec("ssl-cfm", _ssl_cfm, "SSL with Correlated Feature Masking (Yao et al. 2021)", needs_model),
        RegularizerSpec("ssl-rfm", _ssl_rfm, "SSL with Random Feature Masking (Yao et al. 2021)", needs_model),
        RegularizerSpec("spread-out", _spread_out, "Spread-out regularization of item embeddings (Zhang et al. 2017)"),
    ]
