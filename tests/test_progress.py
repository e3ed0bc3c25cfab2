"""Progress on a terminal is a live bar; through a pipe or with --quiet it is one line per epoch."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from zoo_testkit import Runner


def _run_on_terminal(args: list[str], env: dict[str, str], cwd: Path, limit: float = 180) -> str:
    """Run ``args`` on a pseudo-terminal and return what it showed; kill it if it outlives ``limit`` seconds."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(args, stdin=secondary, stdout=secondary, stderr=secondary, env=env, cwd=cwd)
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                shown = b"".join(chunks).decode(errors="replace")
                raise AssertionError(f"no end of output within {limit} s; killed it. It showed:\n{shown}")
            ready, _, _ = select.select([main], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_bar_on_terminal_lines_elsewhere(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(toy_site), "ZOO_LOAD_PLUGINS": "toy", "COLUMNS": "120"}
    command = [sys.executable, "-m", "zoo", "train", "toy.line", "--samples", "20000", "--batch-size", "4"]
    shown = _run_on_terminal([*command, "--out", str(tmp_path / "tty")], env, tmp_path)
    assert "samples/s" in shown and "━" in shown and "epoch 3/3" in shown
    piped = zoo_cli(*command[3:], "--out", str(tmp_path / "pipe"), sites=(toy_site,), check=True)
    assert "━" not in piped.stdout + piped.stderr
    assert [line.split()[1] for line in piped.stdout.splitlines() if line.startswith("epoch ")] == ["1/3", "2/3", "3/3"]
