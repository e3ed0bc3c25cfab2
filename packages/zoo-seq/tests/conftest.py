"""Shared helpers: the zoo CLI in a subprocess with only this plugin loaded, and trained runs.

Training happens once per model for the whole session (the seed pair trains in well
under a second of compute), and every CLI test reuses those run folders.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from zoo.plugin import run_cli

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
    """``python -m zoo ARGS`` with only the seq plugin loaded; the shell's ZOO_* settings pass through."""
    return run_cli(*args, cwd=cwd, plugins=("seq",), check=check, timeout=timeout, drop=())


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
    from zoo.plugin import refresh_registry

    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "seq")
    refresh_registry()
    yield
    monkeypatch.undo()
    refresh_registry()
