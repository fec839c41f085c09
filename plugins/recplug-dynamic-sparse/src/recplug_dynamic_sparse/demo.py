"""The dynamic-sparse section of ``recplug demo`` (entry point group ``recplug.demo``).

Trains the demo's two-tower (MovieLens-100K, see :mod:`recplug_recsys.demo`) with DSL tables at 20%
density (ΔT = 20 steps, cosine-decayed prune/grow ratio over the run) next to the dense baseline.
"""

from __future__ import annotations

from typing import Any

STEPS_PER_EPOCH_ML100K = 78  # 80,808 training interactions / batch 1024


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (the ``recplug_demo_steps`` hook; imports nothing heavy)."""
    from recplug.records import DemoStep

    def run(context: Any) -> str:
        from recplug_recsys import DEMO_EPOCHS, train_variants

        dsl = {"density": 0.2, "delta_t": 20, "total_steps": DEMO_EPOCHS * STEPS_PER_EPOCH_ML100K}
        return train_variants(context, {"dsl-20%": {"compressor": {"name": "dsl", "options": dsl}}})

    return [DemoStep(name="dynamic-sparse", title="recplug-dynamic-sparse: DSL tables at 20% density", run=run, order=60)]
