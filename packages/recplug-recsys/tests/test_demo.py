"""The recommender steps of ``recplug demo``: seeds, spread, the within-noise sentences, sections and their files."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from recplug.manager import load_plugin_manager
from recplug.records import DemoContext, DemoSection
from recplug_eval.demo import discover_steps
from recplug_recsys import demo
from recplug_recsys.config import load_config

TINY = {"data": {"max_users": 60}, "model": {"embedding_dim": 16, "hidden": [32], "output_dim": 16},
        "batch_size": 128, "max_steps_per_epoch": 4, "epochs": 2}


def summary(r20: list[float], tail: list[float], best: list[int] | None = None, run: list[int] | None = None,
            cap: int = 12) -> dict:
    """A :func:`demo.summarise` output from per-seed test values (head and nDCG follow R@20)."""
    per_seed = {seed: {"test": {"R@20": r, "head/R@20": r, "tail/R@20": t, "nDCG@20": r / 2},
                       "serving_bytes": 1000, "best_epoch": b, "epochs_run": e, "peak_reached": b < e,
                       "stopped_early": e < cap, "seconds": 1.0, "train_seconds": 1.0}
                for seed, (r, t, b, e) in enumerate(zip(r20, tail, best or [2] * len(r20), run or [5] * len(r20), strict=True))}
    return demo.summarise(per_seed)


def test_the_within_noise_sentence_follows_the_numbers() -> None:
    baseline = summary([0.30, 0.31, 0.32], [0.10, 0.11, 0.12])
    variant = summary([0.35, 0.36, 0.37], [0.105, 0.115, 0.125])  # R@20 +0.05 > 0.02 spread; tail +0.005 < 0.02
    comparison = demo.compare(baseline, variant)
    assert comparison["R@20"]["diff"] == pytest.approx(0.05) and comparison["R@20"]["noise"] == pytest.approx(0.02)
    assert comparison["R@20"]["beyond_noise"] and not comparison["tail/R@20"]["beyond_noise"]
    sentence = demo.comparison_sentence("v", comparison)
    assert sentence.startswith("v vs two-tower: R@20 +0.0500")
    beyond, within = sentence.split("more than the seed spread")
    assert "tail R@20" not in beyond and "tail R@20 +0.0050" in within and within.endswith("within noise.")
    assert demo.noise_caveat("v", comparison) == "v: the differences from two-tower in tail R@20 are within the seed spread (noise)."

    same = demo.compare(baseline, summary([0.305, 0.315, 0.325], [0.10, 0.11, 0.12]))
    assert "every difference is within noise" in demo.comparison_sentence("w", same)
    assert demo.noise_caveat("w", same) == "w: every difference from two-tower is within the seed spread (noise)."

    worse = demo.compare(baseline, summary([0.20, 0.21, 0.22], [0.02, 0.03, 0.04]))
    assert demo.noise_caveat("x", worse) is None and "R@20 -0.1000 (-32.3%) against a spread of 0.0200" in demo.comparison_sentence("x", worse)

    one_seed = demo.compare(summary([0.3], [0.1]), summary([0.4], [0.2]))
    assert one_seed["R@20"]["beyond_noise"] is None
    assert "no seed spread" in demo.comparison_sentence("y", one_seed)


def test_a_run_whose_best_epoch_is_its_last_is_flagged() -> None:
    s = summary([0.3, 0.3, 0.3], [0.1, 0.1, 0.1], best=[4, 20, 19], run=[7, 20, 20], cap=20)
    assert demo.peak_caveats("dsl", s) == [
        "dsl, seed 1: its best epoch (20) is its last: the validation peak was not reached within the cap of 20 epochs.",
        f"dsl, seed 2: the cap of 20 epochs ended it 1 epoch(s) after its best, before the patience of "
        f"{demo.DEMO_PATIENCE} ran out: a later, higher peak is possible."]
    assert "| 4/7, 20/20 cap !, 19/20 cap " in demo.results_table({"two-tower": s})


def test_the_train_command_reproduces_the_run_settings() -> None:
    settings = {"compressor": {"name": "dsl", "options": {"density": 0.2, "delta_t": 20}},
                "regularizers": [{"name": "ssl-cfm", "options": {"weight": 0.1}}]}
    words = shlex.split(demo.train_command("dsl-20%", settings, seed=2))
    assert words[:2] == ["recplug", "train"]
    overrides = [w for w in words[2:] if w != "--set"]
    config = load_config(None, overrides)
    assert (config.seed, config.patience, config.select_metric, config.epochs) == (2, demo.DEMO_PATIENCE, "R@20", demo.DEMO_EPOCHS)
    assert config.compressor.options == {"density": 0.2, "delta_t": 20} and config.regularizers[0].options == {"weight": 0.1}
    assert config.data.dataset == "ml-100k" and config.model.log_q and config.output_dir == "runs/dsl-20%-seed2"


@pytest.fixture(scope="module")
def tiny_scale():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "SCALE", demo.DemoScale(seeds=(0, 1), workers=1, overrides=TINY))
        yield


def check_section(section: object, out: Path) -> DemoSection:
    assert isinstance(section, DemoSection) and section.commands
    for image in section.images:
        assert (out / image).stat().st_size > 1000 and f"]({image})" in section.markdown
    return section


@pytest.mark.slow
def test_recsys_and_variant_steps_share_one_table(tiny_scale, tmp_path: Path) -> None:
    """The recsys step trains baseline + every installed variant (2 seeds, tiny); the variant steps reuse it."""
    pm = load_plugin_manager()
    steps = {loaded.name: loaded.step for loaded in discover_steps(pm)}
    context = DemoContext(output_dir=tmp_path, config=None, pm=pm)
    assert steps["recsys"].run is not None
    recsys = check_section(steps["recsys"].run(context), tmp_path)
    results = recsys.results
    assert list(results["summaries"]) == ["two-tower", "ssl-cfm", "dsl-20%"] and results["seeds"] == [0, 1]
    for name, s in results["summaries"].items():
        assert set(s["measures"]) == {"R@20", "head/R@20", "tail/R@20", "nDCG@20"}
        assert len(s["measures"]["R@20"]["per_seed"]) == 2 and s["serving_bytes"] > 0
        assert set(results["runs"][name]) == {"0", "1"}
        assert f"| {name} " in recsys.markdown
    assert set(results["comparisons"]) == {"ssl-cfm", "dsl-20%"}
    assert all(results["sentences"][n] in recsys.markdown for n in ("ssl-cfm", "dsl-20%"))
    assert recsys.images == ("recsys/quality.png",) and len(recsys.commands) == 3
    assert recsys.markdown.count("| two-tower ") == 1
    # tiny runs: 2 epochs, so every best epoch is 1 or 2 and a best epoch 2 of 2 is flagged
    flagged = sum(not ok for s in results["summaries"].values() for ok in s["peak_reached"])
    assert sum("validation peak was not reached" in c for c in recsys.caveats) == flagged

    dsl_step = steps["dynamic-sparse"].run
    assert dsl_step is not None
    dsl = check_section(dsl_step(context), tmp_path)
    assert not dsl.results["trained_here"] and not dsl.images and "| two-tower " not in dsl.markdown
    assert not (tmp_path / "dynamic-sparse").exists()  # no plot of its own: the recsys step's shows its runs
    entry = dsl.results["variants"]["dsl-20%"]
    assert entry["serving_bytes"] < dsl.results["baseline_serving_bytes"] and entry["serving_ratio"] < 1
    assert entry["sentence"] in dsl.markdown and "MB to serve" in dsl.markdown
    assert any("bench.py" in c for c in dsl.commands)


@pytest.mark.slow
def test_a_variant_step_alone_trains_its_baseline(tiny_scale, tmp_path: Path) -> None:
    pm = load_plugin_manager()
    ssl_step = next(loaded.step for loaded in discover_steps(pm) if loaded.name == "ssl")
    assert ssl_step.run is not None
    ssl = check_section(ssl_step.run(DemoContext(output_dir=tmp_path, config=None, pm=pm)), tmp_path)
    assert ssl.results["trained_here"] and ssl.images == ("ssl/quality.png",)
    assert list(ssl.results["table"]["summaries"]) == ["two-tower", "ssl-cfm"]
    assert ssl.markdown.count("| two-tower ") == 1 and ssl.results["variants"]["ssl-cfm"]["sentence"] in ssl.markdown
    assert (tmp_path / "recsys" / "ssl-cfm" / "seed-1" / "metrics.json").is_file()
