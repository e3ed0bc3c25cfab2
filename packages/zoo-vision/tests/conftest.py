"""Fixtures: the zoo CLI in a subprocess, a tiny MNIST data folder, and a CNN trained on it once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vision_testkit import Cli, write_mnist
from zoo.plugins.registry import get_registry

# Training in tests draws no curves.png (a matplotlib start-up per run); the tests
# about plots ask for them. Environments built for subprocesses keep this variable.
os.environ["ZOO_NO_PLOTS"] = "1"

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def run_zoo(
    *args: str,
    cwd: Path,
    data_dir: Path | None = None,
    check: bool = True,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` with only the vision plugin loaded and the data folder set.

    ZOO_* settings of the calling shell are dropped (``env`` adds some back), and so are
    proxies: the tests' only servers are on 127.0.0.1.
    """
    full_env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS") and k not in PROXY_VARS
    }
    full_env.update(no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
    full_env["ZOO_LOAD_PLUGINS"] = "vision"
    full_env.update(env or {})
    env = full_env
    if data_dir is not None:
        env["ZOO_DATA_DIR"] = str(data_dir)
    else:
        env.pop("ZOO_DATA_DIR", None)
    env.setdefault("OMP_NUM_THREADS", "2")
    command = [sys.executable, "-m", "zoo", *args]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"zoo {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


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
    get_registry(refresh=True)
    yield
    monkeypatch.undo()
    get_registry(refresh=True)
