"""Shared helpers: the zoo CLI in a subprocess with only this plugin loaded, and trained runs.

Training happens once per model for the whole session (the seed pair trains in well
under a second of compute), and every CLI test reuses those run folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Training in tests draws no curves.png (a matplotlib start-up per run); the tests
# about plots ask for them. Environments built for subprocesses keep this variable.
os.environ["ZOO_NO_PLOTS"] = "1"

MODELS = ("seq.rnncell", "seq.rnn", "seq.embedding")

#: A small, very regular text: a next-character model learns it in a few epochs.
FOX = "the quick brown fox jumps over the lazy dog.\n" * 30

RunZoo = Callable[..., "subprocess.CompletedProcess[str]"]
SeedRun = tuple[Path, "subprocess.CompletedProcess[str]"]


def _run_zoo(
    *args: str, cwd: Path, check: bool = True, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` with only the seq plugin loaded (ZOO_LOAD_PLUGINS=seq)."""
    env = dict(os.environ)
    env["ZOO_LOAD_PLUGINS"] = "seq"
    env.pop("ZOO_STRICT_PLUGINS", None)
    env["ZOO_DATA_DIR"] = str(cwd / "zoo-data")
    # The models are tiny; more than one thread per process only adds contention.
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"zoo {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def run_zoo() -> RunZoo:
    """The CLI runner as a fixture, so test modules need not import this file."""
    return _run_zoo


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def metrics() -> Callable[[Path], list[dict[str, Any]]]:
    return read_metrics


@pytest.fixture(scope="session")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SeedRun]:
    """``seed_run(model)``: (run folder, train output) after training on the seed pair, once a session."""
    done: dict[str, SeedRun] = {}

    def get(model: str) -> SeedRun:
        if model not in done:
            work = tmp_path_factory.mktemp(model.replace(".", "-"))
            proc = _run_zoo(
                "train", model, "--device", "cpu", "--out", "run", cwd=work
            )  # every epoch's guess
            done[model] = (work / "run", proc)
        return done[model]

    return get


@pytest.fixture(scope="session")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(working folder, run folder) of seq.embedding trained on FOX in text mode."""
    work = tmp_path_factory.mktemp("text")
    (work / "fox.txt").write_text(FOX, encoding="utf-8")
    _run_zoo(
        "train", "seq.embedding", "--recipe", "text", "--text", "fox.txt", "--stride", "4",
        "--device", "cpu", "--out", "run", "--quiet", cwd=work,
    )  # fmt: skip
    return work, work / "run"


@pytest.fixture
def seq_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The in-process registry with only this plugin, as the CLI sees it; restored afterwards."""
    from zoo.plugins.registry import get_registry

    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "seq")
    get_registry(refresh=True)
    yield
    monkeypatch.undo()
    get_registry(refresh=True)
