"""The SSL section of ``recplug demo`` (entry point group ``recplug.demo``).

Trains the demo's two-tower (MovieLens-100K, see :mod:`recplug_recsys.demo`) with the SSL-CFM regularizer
(correlated feature masking on the item tower, InfoNCE over uniformly sampled items, α = 0.1, τ = 0.05: the
setting chosen on ML-100K's validation split, ``tools/bench/ssl/tuning.md``) beside the baseline, and reports
overall, head and tail R@50 (the paper's claim is about the tail).
"""

from __future__ import annotations

from typing import Any


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (the ``recplug_demo_steps`` hook; imports nothing heavy)."""
    from recplug.records import DemoStep

    def run(context: Any) -> str:
        from recplug_recsys import train_variants

        ssl = {"regularizers": [{"name": "ssl-cfm", "options": {"weight": 0.1, "temperature": 0.05}}]}
        return train_variants(context, {"ssl-cfm": ssl}, k=50)

    return [DemoStep(name="ssl", title="recplug-ssl: self-supervised item-tower regularization", run=run, order=50)]
