"""Hook implementations of recplug-recsys (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations

from recplug import hookimpl


@hookimpl
def recplug_commands():
    from recplug_recsys.cli import command_specs

    return command_specs()


@hookimpl
def recplug_demo_steps():
    from recplug_recsys.demo import demo_steps

    return demo_steps()
