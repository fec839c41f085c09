"""The ``recplug`` command line: plugin listing as table and JSON, errors, help."""

from __future__ import annotations

import json

from recplug.cli.main import main


def test_plugins_table_lists_builtins(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("| plugin")
    assert "recplug.builtins" in out and "exact" in out and "dense" in out


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    builtins = next(p for p in listing if p["name"] == "recplug.builtins")
    assert builtins["distribution"] == "recplug"
    assert builtins["components"]["retrieval_index"] == ["exact"]


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "plugins" in capsys.readouterr().out


def test_recplug_errors_become_messages(monkeypatch, capsys):
    monkeypatch.setenv("RECPLUG_PLUGINS", "no-such-plugin")
    assert main(["plugins"]) == 1
    assert "no-such-plugin" in capsys.readouterr().err
