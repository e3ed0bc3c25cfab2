"""Shared by the benchmark scripts: wait out zoo's background plot between timings."""

from __future__ import annotations

import time
from pathlib import Path


def settle(png: Path, seconds: float = 60.0) -> None:
    """Let a run's background ``curves.png`` drawing finish, so it never shares the cores with the next timing."""
    deadline = time.monotonic() + seconds
    while not png.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
