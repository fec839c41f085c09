"""The SSL section of ``recplug demo`` (entry point group ``recplug.demo``).

Adds SSL-CFM to the ``recsys`` step's runs (:mod:`recplug_recsys.demo`: the demo's two-tower on MovieLens-100K,
several seeds, each trained to its validation peak): correlated feature masking on the item tower, InfoNCE over
uniformly sampled items, α = 0.1, τ = 0.05, SSL batch 256, value dropout 0.1 (chosen on ML-100K's validation split,
``tools/bench/ssl/tuning.md``). Its section says whether its differences from the baseline, the tail's above all
(the paper's claim), exceed the seed spread.
"""

from __future__ import annotations

from typing import Any

SSL_OPTIONS = {"weight": 0.1, "temperature": 0.05, "batch_size": 256, "value_dropout": 0.1}
BENCH_COMMANDS = (
    "OMP_NUM_THREADS=1 .venv/bin/python tools/bench/ssl/bench_pipeline.py --dataset ml-100k --seeds 0 1 2 --epochs 6 "
    "--weight 0.1 --temperature 0.05 --ssl-batch-size 256 --value-dropout 0.1 --step-time-steps 100",
    "OMP_NUM_THREADS=1 .venv/bin/python tools/bench/ssl/bench_pipeline.py --dataset ml-1m --seeds 0 1 2 --epochs 12 "
    "--weight 0.1 --temperature 0.05 --ssl-batch-size 256 --value-dropout 0.1 --step-time-steps 100 --jobs 2",
)


def demo_steps() -> list[Any]:
    """This plugin's step of ``recplug demo`` (the ``recplug_demo_steps`` hook; imports nothing heavy)."""
    from recplug_recsys import RecsysVariant, variant_step

    ssl = RecsysVariant(
        "ssl-cfm", {"regularizers": [{"name": "ssl-cfm", "options": SSL_OPTIONS}]},
        "SSL-CFM regularizer on the item tower, α = 0.1, τ = 0.05, SSL batch 256, value dropout 0.1",
        BENCH_COMMANDS,
    )
    return [variant_step("ssl", "recplug-ssl: self-supervised item-tower regularization (SSL-CFM)", [ssl], order=50)]
