"""Entry point of the ``recplug`` command: builds sub-commands from every installed plugin."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from recplug.errors import RecplugError


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    from recplug.manager import load_plugin_manager

    pm = load_plugin_manager()
    parser = argparse.ArgumentParser(
        prog="recplug", description="recplug: plugins for recommender systems and retrieval evaluation"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = pm.commands()
    for name, spec in commands.items():
        command_parser = sub.add_parser(name, help=spec.help, description=spec.help)
        spec.configure(command_parser)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        parser, commands = build_parser()
        args = parser.parse_args(argv)
        if args.verbose:
            logging.getLogger().setLevel(logging.DEBUG)
        if not args.command:
            parser.print_help()
            return 2
        return int(commands[args.command].run(args) or 0)
    except RecplugError as exc:
        print(f"recplug: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
