"""`recplug train` / `recplug recsys-eval` through the core's command line, and the entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from recplug.cli.main import main
from recplug.manager import load_plugin_manager


def test_entry_point_registers_commands() -> None:
    pm = load_plugin_manager()
    commands = pm.commands()
    assert {"train", "recsys-eval"} <= set(commands)
    assert pm.distribution_of("recplug-recsys").startswith("recplug-recsys ")


def test_plugin_import_is_light() -> None:
    code = "import sys, recplug_recsys.plugin as p; p.recplug_commands(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--out", str(tmp_path / "run"), "--set", "epochs=1"]
    for setting in ["data.max_users=60", "model.embedding_dim=16", "model.hidden=[32]", "model.output_dim=16",
                    "batch_size=128", "max_steps_per_epoch=3", "progress=false", "eval_ks=[10,20]"]:
        args += ["--set", setting]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| all " in printed and "R@10" in printed
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert main(["recsys-eval", str(tmp_path / "run"), "--ks", "10,20"]) == 0
    again = capsys.readouterr().out
    assert f"{metrics['test']['R@10']:.4f}" in again  # best.pt reproduces the run's test metrics
    assert main(["train", "--set", "compressor.name=nope", "--output-dir", str(tmp_path / "x")]) == 1
    assert "unknown embedding compressor 'nope'" in capsys.readouterr().err
    assert main(["recsys-eval", str(tmp_path / "missing")]) == 1


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("recplug: error: ")
    return line


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("RECPLUG_DEBUG", raising=False)
    file = tmp_path / "file"
    file.write_text("x")
    assert main(["train", "--set", "lr=-1", "--output-dir", str(tmp_path / "run")]) == 1
    assert _error_line(capsys) == "recplug: error: lr must be a number > 0, got -1.0"
    assert main(["train", "--output-dir", str(file / "run")]) == 1
    assert f"output_dir {file} (in {file / 'run'}): exists and is not a folder" in _error_line(capsys)
    assert main(["train", "--config", str(tmp_path)]) == 1
    assert "cannot read config file" in _error_line(capsys)
    assert main(["data", "check", str(file)]) == 1
    assert "not valid JSON" in _error_line(capsys)
    assert main(["recsys-export", str(tmp_path / "missing"), str(file)]) == 1
    assert f"export folder {file}: exists and is not a folder" in _error_line(capsys)
    assert main(["recsys-eval", str(file)]) == 1
    assert "best.pt: missing" in _error_line(capsys)
    assert main(["--debug", "train", "--set", "lr=-1"]) == 1
    assert "Traceback" in capsys.readouterr().err
    for ks in ("0", "10,x", ","):
        with pytest.raises(SystemExit) as exited:
            main(["recsys-eval", str(tmp_path), "--ks", ks])
        assert exited.value.code == 2 and "argument --ks" in capsys.readouterr().err


def test_set_reads_values_as_eval_config_items_do() -> None:
    """Issue 31: one value parser for `recplug train --set` and `recplug eval --*-config` (they disagreed on
    `True`)."""
    from recplug_eval.options import parse_config_items
    from recplug_recsys.config import apply_overrides

    for text in ("True", "false", "3", "0.5", "[1, 2]", "abc", "null"):
        assert apply_overrides({}, [f"x={text}"])["x"] == parse_config_items([f"x={text}"])["x"]
    assert apply_overrides({}, ["model.log_q=True"])["model"]["log_q"] is True
