"""Kill a save partway (SIGKILL, in a forked child) and check what is left on disk.

Two ways to pick the moment, both used by :class:`recplug.testing.IndexConformance`:

* :func:`killed_at_step`: the child counts the file-system steps of the save (open, fsync, rename, unlink,
  mkdir, rmdir) and kills itself at step ``n``; :func:`count_steps` says how many there are, so a test
  can kill at every one of them.
* :func:`killed_after`: the child saves in a loop and the parent kills it after a random delay, which also
  lands inside the writing of a file.

POSIX only (``os.fork``). The child inherits the parent's objects, so nothing is pickled or rebuilt.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: The ``os`` functions a save's file-system steps go through (``Path`` and ``shutil`` call them too).
STEP_FUNCTIONS = ("open", "fsync", "replace", "rename", "unlink", "remove", "mkdir", "rmdir")


@contextmanager
def _counting(on_step: Callable[[int], None]) -> Iterator[None]:
    """Call ``on_step(n)`` before the ``n``-th (from 1) call of any :data:`STEP_FUNCTIONS`."""
    originals = {name: getattr(os, name) for name in STEP_FUNCTIONS}
    count = 0

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            count += 1
            on_step(count)
            return function(*args, **kwargs)

        return counted

    for name, function in originals.items():
        setattr(os, name, wrap(function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(os, name, function)


def count_steps(save: Callable[[], Any]) -> int:
    """Run ``save()`` in a forked child and return how many file-system steps it took."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        steps = [0]
        try:
            with _counting(lambda n: steps.__setitem__(0, n)):
                save()
            os.write(write, str(steps[0]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as handle:
        text = handle.read()
    os.waitpid(pid, 0)
    if not text:
        raise RuntimeError("the save failed in the child process")
    return int(text)


def _kill_self(step: int) -> Callable[[int], None]:
    def on_step(n: int) -> None:
        if n == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return on_step


def killed_at_step(save: Callable[[], Any], step: int) -> bool:
    """Run ``save()`` in a forked child killed (SIGKILL) just before its ``step``-th file-system step;
    returns whether it was killed (False: the save finished in fewer steps)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            with _counting(_kill_self(step)):
                save()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def killed_after(saves: Callable[[], Any], delay: float) -> None:
    """Run ``saves()`` in a loop in a forked child and SIGKILL it after ``delay`` seconds."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            while True:
                saves()
        finally:
            os._exit(0)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
