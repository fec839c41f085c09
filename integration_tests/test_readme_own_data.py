"""The README's "Bring your own data" walk, as a user does it: two CSV files, the README's config file verbatim,
`recplug data check`, `recplug train`, `recplug recsys-eval` (fewer epochs; data from the shop generator)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from recplug_eval.datasets.generated import ShopSpec, write_shop

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_config() -> str:
    section = README.read_text().split("### Bring your own data", 1)[1]
    return re.search(r"```toml\n(.*?)```", section, re.S).group(1)


def test_readme_walk_from_two_csv_files(tmp_path: Path) -> None:
    write_shop(tmp_path / "shop", ShopSpec(num_users=300, num_items=200, num_interactions=8000))
    (tmp_path / "shop" / "users.csv").unlink()  # two files: interactions and items
    (tmp_path / "shop.toml").write_text(_readme_config())
    recplug = str(Path(sys.executable).with_name("recplug"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([recplug, *args], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
                              check=False)

    check = run("data", "check", "shop.toml")
    assert check.returncode == 0, check.stderr[-2000:]
    assert "t_description" in check.stdout and "| train rows" in check.stdout
    train = run("train", "--config", "shop.toml", "--set", "epochs=2", "--set", "progress=false")
    assert train.returncode == 0, train.stderr[-2000:]
    metrics = json.loads((tmp_path / "runs" / "shop" / "metrics.json").read_text())
    evaluated = run("recsys-eval", "runs/shop")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert f"{metrics['test']['R@10']:.4f}" in evaluated.stdout
    bad = run("train", "--config", "shop.toml", "--set", 'data.item_column="skus"')
    assert bad.returncode == 1 and "no column 'skus' (data.item_column). Did you mean 'sku'?" in bad.stderr
    assert "Traceback" not in bad.stderr
