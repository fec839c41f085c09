"""The ``recplug`` command line: plugin listing as table and JSON, errors, help."""

from __future__ import annotations

import json

import pytest
from recplug.cli.main import main
from recplug.manager import RecplugPluginManager


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


# ------------------------------------------------------------------------------------ one-line errors


def _fail_plugins_with(monkeypatch, exc: BaseException) -> None:
    def fail(self):
        raise exc

    monkeypatch.setattr(RecplugPluginManager, "plugin_infos", fail)


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    return line


def test_recplug_error_is_one_line(monkeypatch, capsys):
    monkeypatch.delenv("RECPLUG_DEBUG", raising=False)
    monkeypatch.setenv("RECPLUG_PLUGINS", "no-such-plugin")
    assert main(["plugins"]) == 1
    assert _one_line(capsys.readouterr().err).startswith("recplug: error: ")


def test_unexpected_error_is_one_line_unless_debugging(monkeypatch, capsys):
    monkeypatch.delenv("RECPLUG_DEBUG", raising=False)
    _fail_plugins_with(monkeypatch, TypeError("boom\nsecond line"))
    assert main(["plugins"]) == 1
    assert _one_line(capsys.readouterr().err) == (
        "recplug: internal error: TypeError: boom; second line (rerun with --debug for the traceback)"
    )
    for argv in (["--debug", "plugins"], ["plugins", "--debug"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("Traceback") and 'raise exc' in err
        assert err.strip().splitlines()[-1] == "recplug: internal error: TypeError: boom; second line"
    monkeypatch.setenv("RECPLUG_DEBUG", "1")
    assert main(["plugins"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_file_errors_and_interrupts(monkeypatch, capsys):
    monkeypatch.delenv("RECPLUG_DEBUG", raising=False)
    _fail_plugins_with(monkeypatch, IsADirectoryError(21, "Is a directory", "some/folder"))
    assert main(["plugins"]) == 1
    assert _one_line(capsys.readouterr().err) == "recplug: error: some/folder: Is a directory"
    _fail_plugins_with(monkeypatch, KeyboardInterrupt())
    assert main(["plugins"]) == 130
    assert _one_line(capsys.readouterr().err) == "recplug: interrupted"


def test_usage_errors_keep_argparse_exit_code(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["plugins", "--no-such-flag"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_version(capsys) -> None:
    from recplug import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"recplug {__version__}"


def test_one_plugin_manager_per_process(monkeypatch, capsys) -> None:
    """Issue 31: sub-commands get the manager the command line built instead of loading every plugin again."""
    import recplug.manager

    calls = []
    original = recplug.manager.load_plugin_manager
    monkeypatch.setattr(recplug.manager, "load_plugin_manager", lambda **kw: calls.append(kw) or original(**kw))
    assert main(["plugins"]) == 0
    assert "recplug.builtins" in capsys.readouterr().out
    assert len(calls) == 1


def test_a_missing_library_is_one_line_with_the_install_hint(monkeypatch, capsys) -> None:
    """Issue 31: `recplug train` without torchrec ended in a 32-line traceback."""
    from recplug.records import CommandSpec

    def run(args, pm):
        raise ModuleNotFoundError("No module named 'torchrec'", name="torchrec")

    import recplug.manager

    original = recplug.manager.RecplugPluginManager.commands
    monkeypatch.setattr(recplug.manager.RecplugPluginManager, "commands",
                        lambda self: {**original(self), "needs-torchrec": CommandSpec("needs-torchrec", "x", lambda p: None, run)})
    assert main(["needs-torchrec"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'torchrec' is not installed" in err[0] and "--no-deps torchrec==1.8.0" in err[0]
