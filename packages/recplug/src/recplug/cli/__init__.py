"""The ``recplug`` command line; sub-commands come from the ``recplug_commands`` hook."""
