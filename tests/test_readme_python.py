"""The README's Python examples run as written: the library tour, and a v2 call with tritonclient."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from serve_testkit import serving, zoo_env

ROOT = Path(__file__).resolve().parents[1]


def _python_block(after: str, containing: str) -> str:
    """The first ```python block after the heading ``after`` that contains ``containing``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(after) :]
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        if containing in block:
            return str(block)
    raise AssertionError(f"README.md has no python block with {containing!r} after {after!r}")


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = zoo_env()
    env["ZOO_NO_PLOTS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_library_tour_runs(tmp_path: Path) -> None:
    (tmp_path / "packages").symlink_to(ROOT / "packages")  # the README's paths are from the repository root
    code = _python_block("## As a library", "zoo.save(")
    done = _run(code, tmp_path)
    assert done.returncode == 0, done.stderr
    status, listed = done.stdout.strip().splitlines()[-2:]
    assert status.split()[0] in ("finished", "stopped"), status
    labels = ast.literal_eval(listed)  # the printed list of class names
    assert isinstance(labels, list) and len(labels) == 3 and set(labels) <= {"zero", "one", "two"}
    assert (tmp_path / "mine.safetensors").is_file() and (tmp_path / "runs" / "logistic").is_dir()


def test_the_v2_example_runs_against_a_live_server(tmp_path: Path) -> None:
    pytest.importorskip("tritonclient.http")
    code = _python_block("## Export and serve", "tritonclient")
    assert "127.0.0.1:8000" in code
    with serving("vision.cnn", cwd=tmp_path) as base:
        done = _run(code.replace("127.0.0.1:8000", base.removeprefix("http://")), tmp_path)
    assert done.returncode == 0, done.stderr
    predicted = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\[\d \d\]", predicted), predicted  # the digit read in each of the two images
