"""Progress on a terminal is a live bar; through a pipe or with --quiet it is one line per epoch."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from zoo_testkit import Runner


def _run_on_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    main, secondary = pty.openpty()
    proc = subprocess.Popen(args, stdin=secondary, stdout=secondary, stderr=secondary, env=env, cwd=cwd)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
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
