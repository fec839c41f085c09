"""The dynamic-sparse section of ``recplug demo`` (entry point group ``recplug.demo``).

Adds DSL tables at 20% density (ΔT = 20 steps, prune/grow ratio cosine-decayed over the epoch cap) to the ``recsys``
step's runs (:mod:`recplug_recsys.demo`: the demo's two-tower on MovieLens-100K, several seeds, each trained to its
validation peak); its section gives the exported tables' serving bytes beside the dense baseline's and says
whether the quality differences exceed the seed spread.
"""

from __future__ import annotations

from typing import Any

STEPS_PER_EPOCH_ML100K = 78  # 80,808 training interactions / batch 1024
DENSITY = 0.2
BENCH_COMMANDS = (
    "nice -n 10 .venv/bin/python tools/bench/dynamic_sparse/bench.py --dataset ml-1m --log-q --methods dense dsl:0.2 "
    "--seeds 0 1 2 --epochs 32 --max-steps-per-epoch 700 --batch-size 1024 --step-time-steps 0 "
    "--out tools/bench/dynamic_sparse/log_q_32_epochs",
)


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (the ``recplug_demo_steps`` hook; imports nothing heavy)."""
    from recplug_recsys import DEMO_EPOCHS, RecsysVariant, variant_step

    options = {"density": DENSITY, "delta_t": 20, "total_steps": DEMO_EPOCHS * STEPS_PER_EPOCH_ML100K}
    dsl = RecsysVariant(
        f"dsl-{DENSITY:.0%}", {"compressor": {"name": "dsl", "options": options}},
        f"DSL tables at {DENSITY:.0%} density, ΔT = 20 steps, prune/grow ratio decayed over {DEMO_EPOCHS} epochs",
        BENCH_COMMANDS,
    )
    return [variant_step("dynamic-sparse", f"recplug-dynamic-sparse: DSL tables at {DENSITY:.0%} density", [dsl],
                         order=60)]
