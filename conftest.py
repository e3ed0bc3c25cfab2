"""Test tiers shared by every package's tests.

``ZOO_TEST_TIER=fast`` (``nox -s fast``) keeps only the tests that run in-process: a test
that starts a process (the CLI, torchrun, a server, a fresh venv) is skipped at that
moment, with the command named. The full tier runs everything. Tests marked ``slow``
are left out of the fast tier before they start.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

FAST = os.environ.get("ZOO_TEST_TIER", "") == "fast"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes tens of seconds or more; left out of the fast tier")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not FAST:
        return
    skip = pytest.mark.skip(reason="slow: full tier only")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _in_process_only() -> Iterator[None]:
    """In the fast tier, starting a process skips the test that asked for it."""
    if not FAST:
        yield
        return
    original = subprocess.Popen.__init__

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        shown = args if isinstance(args, str) else " ".join(str(a) for a in list(args)[:4])
        pytest.skip(f"starts a process ({shown}): full tier only")

    subprocess.Popen.__init__ = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]
