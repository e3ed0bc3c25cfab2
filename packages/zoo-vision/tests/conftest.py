"""Fixtures: the zoo CLI in a subprocess, a tiny MNIST data folder, and a CNN trained on it once."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vision_testkit import Cli, write_mnist
from zoo.plugin import refresh_registry, run_cli

# Training in tests draws no curves.png (a matplotlib start-up per run); the tests
# about plots ask for them. Environments built for subprocesses keep this variable.
os.environ["ZOO_NO_PLOTS"] = "1"


def run_zoo(
    *args: str,
    cwd: Path,
    data_dir: Path | None = None,
    check: bool = True,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` with only the vision plugin loaded and the data folder set (unset: None).

    ZOO_* settings of the calling shell are dropped (``env`` adds some back), and so are
    proxies: the tests' only servers are on 127.0.0.1.
    """
    return run_cli(
        *args,
        cwd=cwd,
        plugins=("vision",),
        env=env,
        data_dir=data_dir,
        timeout=timeout,
        check=check,
        threads=2,
    )


@pytest.fixture(scope="session")
def cli() -> Cli:
    """``run_zoo``: the zoo command in a subprocess, with only this plugin loaded."""
    return run_zoo


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the tiny MNIST (plain files)."""
    data_dir = tmp_path_factory.mktemp("data")
    write_mnist(data_dir)
    return data_dir


@pytest.fixture(scope="session")
def trained_cnn(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of vision.cnn trained on the tiny set through the CLI, shared by several tests."""
    work = tmp_path_factory.mktemp("cnn")
    args = "train vision.cnn --epochs 8 --batch-size 16 --optimizer adam --lr 0.01 --device cpu --quiet"
    args += " --out run"
    run_zoo(*args.split(), cwd=work, data_dir=mnist_dir)
    return work / "run"


@pytest.fixture
def vision_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """zoo's registry in this process with only this plugin loaded; the previous one is restored after."""
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "vision")
    refresh_registry()
    yield
    monkeypatch.undo()
    refresh_registry()
