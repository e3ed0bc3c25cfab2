"""Helpers for zoo-tabular's tests: the real ``zoo`` CLI limited to this plugin, the
library API in-process, and a stand-in FitContext for strategies on their own."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from zoo.plugin import run_cli

# Training in tests draws no curves.png (a matplotlib start-up per run); the tests
# about plots ask for them. Environments built for subprocesses keep this variable.
os.environ["ZOO_NO_PLOTS"] = "1"


ZooRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def zoo_cli(tmp_path: Path) -> ZooRunner:
    """Run the CLI in ``tmp_path``; ``ok=True`` asserts exit code 0 and shows the output if not."""

    def run(
        *args: str, ok: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(
            *args, cwd=tmp_path, plugins=("tabular",), env={"MPLBACKEND": "Agg", **(env or {})}, check=ok
        )

    return run


@pytest.fixture
def train_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """``zoo.train`` in this process (no interpreter start-up), registry limited to tabular."""
    import zoo
    from zoo.plugin import refresh_registry

    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "tabular")
    refresh_registry()
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    counter = iter(range(1_000_000))

    def train(name: str, **overrides: Any) -> Any:
        overrides.setdefault("out", tmp_path / f"run{next(counter)}")
        overrides.setdefault("device", "cpu")
        overrides.setdefault("quiet", False)  # printed lines are captured below
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            run = zoo.train(name, **overrides)
        setattr(run, "printed", printed.getvalue())  # noqa: B010  (what the run printed, for asserts)
        return run

    yield train
    torch.set_num_threads(threads)
    monkeypatch.undo()
    refresh_registry()  # the registry of the environment the session started with


class FakeFit:
    """Just enough of the trainer's FitContext to run a strategy on tensors."""

    def __init__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, folder: Path, **hparams: Any
    ) -> None:
        self.model = model
        self.x, self.y = x, y
        self.device = torch.device("cpu")
        self.hparams = {"lr": 0.01, "batch_size": 0, **hparams}
        self.epoch = 0
        self.rank = 0
        self.world_size = 1
        self.folder = folder
        self.losses: list[tuple[float, int]] = []
        self.lines: list[str] = []

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        size = int(self.hparams["batch_size"] if batch_size is None else batch_size) or len(self.x)
        order = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(self.epoch))
        for idx in order.split(size):
            yield self.x[idx], self.y[idx]

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise AssertionError("an optimizer-free strategy called train_step")

    def record(self, loss: torch.Tensor, n: int) -> None:
        self.losses.append((float(loss), n))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(outputs, targets)

    def log(self, message: str) -> None:
        self.lines.append(message)

    def artifact(self, name: str) -> Path | None:
        return self.folder / name


@pytest.fixture
def fake_fit(tmp_path: Path) -> Callable[..., FakeFit]:
    def make(model: nn.Module, x: torch.Tensor, y: torch.Tensor, **hparams: Any) -> FakeFit:
        return FakeFit(model, x, y, tmp_path, **hparams)

    return make


@pytest.fixture
def make_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path/name`` and return the path."""

    def make(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return make
