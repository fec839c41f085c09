"""Entry point of the ``recplug`` command: builds sub-commands from every installed plugin.

Every failure ends in one line on stderr and a non-zero exit: ``recplug: error: ...`` (exit 1) for a
:class:`~recplug.errors.RecplugError` or an operating-system error on a named file, ``recplug: internal
error: ...`` (exit 1) for anything else, ``recplug: interrupted`` (exit 130) for Ctrl-C; argparse's usage
errors keep their exit 2. ``--debug`` (anywhere on the line) or ``RECPLUG_DEBUG=1`` prints the traceback too.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from recplug.errors import RecplugError

ENV_DEBUG = "RECPLUG_DEBUG"
DEBUG_FLAG = "--debug"
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _add_debug_flag(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(DEBUG_FLAG, action="store_true", default=default,
                        help=f"show the full traceback of an error (or set {ENV_DEBUG}=1)")


def build_parser(pm: Any = None) -> tuple[argparse.ArgumentParser, dict]:
    """The ``recplug`` parser with every loaded plugin's sub-commands, and those commands by name."""
    from recplug import __version__
    from recplug.manager import load_plugin_manager

    pm = pm if pm is not None else load_plugin_manager()
    parser = argparse.ArgumentParser(
        prog="recplug", description="recplug: plugins for recommender systems and retrieval evaluation"
    )
    parser.add_argument("--version", action="version", version=f"recplug {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    _add_debug_flag(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = pm.commands()
    for name, spec in commands.items():
        command_parser = sub.add_parser(name, help=spec.help, description=spec.help)
        spec.configure(command_parser)
        if DEBUG_FLAG not in command_parser._option_string_actions:
            _add_debug_flag(command_parser, argparse.SUPPRESS)  # also accepted after the command name
    return parser, commands


def debug_requested(argv: Sequence[str]) -> bool:
    """``--debug`` among the arguments or ``RECPLUG_DEBUG`` set to a true value."""
    env = os.environ.get(ENV_DEBUG, "").strip().lower()
    return DEBUG_FLAG in argv or env not in ("", "0", "false", "no")


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (its lines joined with ``; ``)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def _describe(exc: Exception) -> tuple[str, str]:
    """``(label, message)`` of a failed command: user errors (``error``) or bugs (``internal error``)."""
    if isinstance(exc, RecplugError):
        return "error", one_line(exc)
    if isinstance(exc, OSError) and exc.filename is not None:  # a file the user named: missing, a folder, ...
        return "error", f"{exc.filename}: {exc.strerror or one_line(exc)}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:  # e.g. torchrec, installed apart on CPU machines
        return "error", (f"the library {exc.name!r} is not installed ({one_line(exc)}); install it (for torchrec "
                         "on CPU: pip install fbgemm-gpu-cpu==1.8.0, then pip install --no-deps torchrec==1.8.0)")
    return "internal error", f"{type(exc).__name__}: {one_line(exc)}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``recplug`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    try:
        from recplug.manager import load_plugin_manager

        pm = load_plugin_manager()  # one per process: every command gets this one
        parser, commands = build_parser(pm)
        args = parser.parse_args(argv)
        if args.verbose:
            logging.getLogger().setLevel(logging.DEBUG)
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        return int(commands[args.command].run(args, pm) or 0)
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("recplug: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        label, message = _describe(exc)
        if debug:
            traceback.print_exc()
        elif label == "internal error":
            message += f" (rerun with {DEBUG_FLAG} for the traceback)"
        print(f"recplug: {label}: {message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
