"""What a fitting strategy sees during one epoch: batches, a train step, logging, artifacts.

``EpochContext`` implements ``zoo.contracts.adapter.FitContext``. It is a view for one epoch: it
counts the batches done and the epoch's loss itself, and the trainer reads them when
the epoch ends or is interrupted; it changes nothing of the trainer's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from zoo.contracts.data import DataBundle
from zoo.training.progress import Reporter
from zoo.use.batching import iterate, plan_batches


class StopRequested(Exception):
    """Raised at a batch boundary after SIGINT/SIGTERM, so no update is ever half-applied."""


#: One optimizer step on a batch: forward, loss, backward, step; returns the detached loss.
StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class EpochContext:
    """One epoch as a strategy sees it (``zoo.contracts.adapter.FitContext``)."""

    def __init__(
        self,
        *,
        model: torch.nn.Module,
        device: torch.device,
        hparams: dict[str, Any],
        epoch: int,
        rank: int,
        world_size: int,
        seed: int,
        bundle: DataBundle,
        step: StepFn,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        reporter: Reporter,
        stop_requested: Callable[[], bool],
        artifacts: Path | None,
        skip: int = 0,
        loss_sum: float = 0.0,
        loss_n: int = 0,
    ) -> None:
        self.model = model
        self.device = device
        self.hparams = hparams
        self.epoch = epoch
        self.rank = rank
        self.world_size = world_size
        self.skip = skip
        self.done = skip  # batches finished in this epoch (those of a resumed part included)
        self.steps = 0  # batches finished by this context (global steps to add)
        self.loss_sum = torch.tensor(float(loss_sum), device=device)
        self.loss_n = loss_n
        self._seed = seed
        self._bundle = bundle
        self._step = step
        self._loss = loss
        self._reporter = reporter
        self._stop_requested = stop_requested
        self._artifacts = artifacts

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        size = int(self.hparams["batch_size"]) if batch_size is None else batch_size
        train = self._bundle.train
        planned = plan_batches(len(train), size, self._seed, self.epoch, self.rank, self.world_size)
        self._reporter.start_epoch(self.epoch, len(planned), self.skip)
        for x, y in iterate(train, planned[self.skip :], self.device, self._bundle.transform):
            if self._stop_requested():
                raise StopRequested
            yield x, y
            self.done += 1
            self.steps += 1
            self._reporter.advance(int(x.shape[0]) * self.world_size, self.running_loss)
        self.skip = 0

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self._loss(outputs, targets)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = self._step(x, y)
        self.record(loss, int(x.shape[0]))
        return loss

    def record(self, loss: torch.Tensor, n: int) -> None:
        self.loss_sum = self.loss_sum + loss.detach().float() * n
        self.loss_n += n

    def running_loss(self) -> torch.Tensor | None:
        return self.loss_sum / self.loss_n if self.loss_n else None

    def log(self, message: str) -> None:
        self._reporter.log(message)

    def artifact(self, name: str) -> Path | None:
        return None if self._artifacts is None else self._artifacts / name
