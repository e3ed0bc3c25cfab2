"""Fixtures: the zoo CLI in a subprocess with only the timm plugin loaded, and drawn colour folders."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from zoo_timm.data import colour_picture

os.environ["ZOO_NO_PLOTS"] = "1"
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
Cli = Callable[..., subprocess.CompletedProcess]


def run_zoo(
    *args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` with only this plugin loaded, its data folder under ``cwd``, no proxies."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ZOO_", "HF_")) and k not in PROXY_VARS}
    full.update(
        ZOO_NO_PLOTS="1",
        ZOO_LOAD_PLUGINS="timm",
        ZOO_DATA_DIR=str(cwd / "zoo-data"),
        HF_HOME=str(cwd / "hf-home"),
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
        OMP_NUM_THREADS="2",
    )
    full.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"zoo {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def cli() -> Cli:
    return run_zoo


def draw_folder(root: Path, per_class: int = 20, size: tuple[int, int] = (200, 150)) -> Path:
    """Red, green and blue shapes on a light ground, as JPEGs (and one PNG per class), one folder each."""
    for colour in ("red", "green", "blue"):
        (root / colour).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            picture = colour_picture(colour, 1000 + i, size)
            suffix = "png" if i == 0 else "jpg"
            picture.save(root / colour / f"{colour}-{i}.{suffix}")
    return root


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return draw_folder(tmp_path_factory.mktemp("shapes") / "shapes")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, shapes: Path) -> Path:
    """A timm.test_resnet run trained once on the drawn folder (64 px, so it is quick on a CPU)."""
    work = tmp_path_factory.mktemp("trained")
    run_zoo(
        "train",
        "timm.test_resnet",
        "--data",
        str(shapes),
        "--epochs",
        "6",
        "--batch-size",
        "8",
        "--image-size",
        "64",
        "--out",
        "run",
        cwd=work,
    )
    return work / "run"
