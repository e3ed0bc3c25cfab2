"""Fixtures: the zoo CLI in a subprocess with only the timm plugin loaded, and drawn colour folders."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from zoo.plugin import run_cli
from zoo_timm.data import colour_picture

os.environ["ZOO_NO_PLOTS"] = "1"
Cli = Callable[..., subprocess.CompletedProcess]


def run_zoo(
    *args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` with only this plugin loaded, its data folder under ``cwd``, no proxies."""
    own = {"ZOO_NO_PLOTS": "1", "HF_HOME": str(cwd / "hf-home"), "OMP_NUM_THREADS": "2", **(env or {})}
    return run_cli(
        *args, cwd=cwd, plugins=("timm",), env=own, timeout=timeout, check=check, drop=("ZOO_", "HF_")
    )


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
