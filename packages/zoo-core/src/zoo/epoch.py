"""What a fitting strategy sees during one epoch: batches, a train step, logging, artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from zoo.batching import iterate, plan_batches

if TYPE_CHECKING:
    from zoo.loop import Trainer


class StopRequested(Exception):
    """Raised at a batch boundary after SIGINT/SIGTERM, so no update is ever half-applied."""


class EpochContext:
    """The FitContext a strategy sees for one epoch."""

    def __init__(self, trainer: Trainer, epoch: int, skip: int) -> None:
        self.trainer = trainer
        self.model = trainer.model
        self.device = trainer.device
        self.hparams = trainer.plan.hparams.as_dict()
        self.epoch = epoch
        self.rank = trainer.dist.rank
        self.world_size = trainer.dist.world_size
        self.skip = skip
        self.done = skip  # batches finished in this epoch

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        t = self.trainer
        size = t.plan.hparams.batch_size if batch_size is None else batch_size
        planned = plan_batches(len(t.bundle.train), size, t.plan.seed, self.epoch, self.rank, self.world_size)
        t.reporter.start_epoch(self.epoch, len(planned), self.skip)
        for x, y in iterate(t.bundle.train, planned[self.skip :], self.device, t.bundle.transform):
            if t.stop_requested:
                raise StopRequested
            yield x, y
            self.done += 1
            t.global_step += 1
            t.reporter.advance(int(x.shape[0]) * self.world_size, t.running_loss)
        self.skip = 0

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.trainer.adapter.loss(outputs, targets)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.trainer.train_step(x, y)

    def record(self, loss: torch.Tensor, n: int) -> None:
        self.trainer.record(loss, n)

    def log(self, message: str) -> None:
        self.trainer.reporter.log(message)

    def artifact(self, name: str) -> Path | None:
        if not self.trainer.dist.is_main:
            return None
        return self.trainer.folder.file(name)
