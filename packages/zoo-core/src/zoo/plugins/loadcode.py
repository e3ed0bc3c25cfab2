"""Running a plugin's code so that it cannot end zoo, corrupt its output or hang it unnamed.

Plugin modules are imported and their hooks called while zoo loads its registry, and
their builder, loader and adapter modules are imported later on demand. Whatever that
code prints goes to stderr (stdout may be carrying ``--json`` output), an ``os._exit``
raises PluginExit instead of ending the process with no word, and code that runs past
``SLOW_PLUGIN_S`` is named on stderr together with the way to skip its plugin.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Iterator

from zoo.errors import ZooError

#: Seconds plugin code (an import, a hook) may run before zoo says which plugin it waits for.
#: ZOO_SLOW_PLUGIN_SECONDS overrides it: a diagnostic knob (and what the tests use).
SLOW_PLUGIN_S = 10.0


class PluginExit(ZooError):
    """Raised in place of ``os._exit`` while plugin code loads: a plugin cannot end zoo silently."""


def slow_plugin_seconds() -> float:
    """The slow-plugin threshold: ZOO_SLOW_PLUGIN_SECONDS when it is a positive number."""
    try:
        value = float(os.environ.get("ZOO_SLOW_PLUGIN_SECONDS", ""))
    except ValueError:
        return SLOW_PLUGIN_S
    return value if math.isfinite(value) and value > 0 else SLOW_PLUGIN_S


class _Watchdog:
    """One thread that names plugin code running past the threshold (a Timer per call costs ~0.4 ms)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start afresh (also in a forked child, which has no watchdog thread and maybe a held lock)."""
        self.cond = threading.Condition()
        self.current: tuple[str, float, float] | None = None  # message, start, threshold
        self.thread: threading.Thread | None = None

    def start(self, message: str) -> tuple[str, float, float] | None:
        """Watch ``message``'s code from now on; returns what was watched before, for ``stop``."""
        with self.cond:
            before, self.current = self.current, (message, time.monotonic(), slow_plugin_seconds())
            self.cond.notify()
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="zoo-slow-plugin", daemon=True)
            self.thread.start()
        return before

    def stop(self, before: tuple[str, float, float] | None) -> None:
        with self.cond:
            self.current = before

    def _run(self) -> None:
        warned = None
        while True:
            with self.cond:
                item = self.current
                if item is None or item is warned:
                    self.cond.wait()
                    continue
                left = item[1] + item[2] - time.monotonic()
                if left > 0:
                    self.cond.wait(left)
                    continue
                warned = item
            hint = "to skip it, set ZOO_LOAD_PLUGINS to the plugins you need"
            print(f"warning: {item[0]} has taken {item[2]:g} s; {hint}", file=sys.stderr, flush=True)


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHDOG.reset)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what the code inside writes to stdout (Python and file descriptor 1) to stderr."""
    saved = None
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError):  # no stdout or stderr descriptor: Python-level only
        if saved is not None:
            os.close(saved)
            saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def plugin_code(who: str, what: str) -> Iterator[None]:
    """Run plugin code (``what``: "import", a hook, a module) so it cannot end or corrupt zoo.

    Its stdout goes to stderr (``--json`` output stays JSON), ``os._exit`` raises
    PluginExit instead of ending the process, and code still running after the
    slow-plugin threshold is named on stderr.
    """
    real = vars(sys.modules[os.name])  # posix or nt: os._exit is its _exit
    saved = os._exit, real["_exit"]

    pid = os.getpid()

    def refuse(code: int) -> None:
        if os.getpid() != pid:  # a child forked by the plugin (multiprocessing) ends as it should
            saved[1](code)
        raise PluginExit(f"called os._exit({code}) while loading")

    os._exit = real["_exit"] = refuse  # type: ignore[assignment]
    before = _WATCHDOG.start(f"{who}: {what}")
    try:
        with _stdout_to_stderr():
            yield
    finally:
        _WATCHDOG.stop(before)
        os._exit, real["_exit"] = saved
